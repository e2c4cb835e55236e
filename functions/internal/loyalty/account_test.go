package loyalty_test

// deleteMyAccount against a real PostgreSQL (pgtest) and a real local Cognito (cognito-local,
// through the real adapter): the member's user must be gone from the pool, and the database
// must hold exactly what product.md says. Without cognito-local these tests fail, saying how to
// install it.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/cognito"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/cognito/cognitotest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// accounts is a world whose service deletes accounts from a pool of a cognito-local.
type accounts struct {
	*world
	local *cognitotest.Local
	pool  string
	svc   *loyalty.Service // w.svc with the account directory
}

func newAccounts(t *testing.T) *accounts {
	t.Helper()
	w := newWorld(t)
	a := &accounts{world: w, local: cognitotest.Start(t)}
	a.pool = a.local.NewPool(t)
	a.svc = loyalty.New(w.db, loyalty.WithClock(func() time.Time { return w.now }), loyalty.WithAccountDirectory(a.local.Directory(t, a.pool)))
	return a
}

// signUp creates a Cognito user named username and registers its member (id = sub) with
// personal data, as the app does after sign-up.
func (a *accounts) signUp(t *testing.T, username string) (id, code string) {
	t.Helper()
	id = a.local.NewUser(t, a.pool, username)
	out := must[loyalty.RegisterMemberOutput](t)(a.svc.RegisterMember(context.Background(), member(id), loyalty.RegisterMemberInput{
		DisplayName: "Aiko Tanaka", Email: ptr(username + "@example.com"), Phone: ptr("+81 90 1234 5678"),
		Birthday: &loyalty.Date{Time: time.Date(1990, 4, 1, 0, 0, 0, 0, time.UTC)},
	}))
	return id, out.MemberCode
}

func (a *accounts) redeem(t *testing.T, id string, spec lt.RewardSpec) loyalty.RedeemRewardOutput {
	t.Helper()
	return must[loyalty.RedeemRewardOutput](t)(a.svc.RedeemReward(context.Background(), member(id),
		loyalty.RedeemRewardInput{RewardID: lt.Reward(t, a.db, spec), IdempotencyKey: uuid.NewString()}))
}

func (a *accounts) deleteAccount(t *testing.T, id string) {
	t.Helper()
	out := must[loyalty.DeleteMyAccountOutput](t)(a.svc.DeleteMyAccount(context.Background(), member(id), struct{}{}))
	if !out.Deleted {
		t.Fatalf("deleteMyAccount = %+v; want deleted true", out)
	}
}

// snapshot is, for every table deleteMyAccount may touch, its rows as text.
func snapshot(t *testing.T, w *world) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range []string{"members", "coupons", "point_transactions", "point_lots", "orders", "rewards", "notifications"} {
		var rows string
		err := w.db.QueryRow(context.Background(), fmt.Sprintf(`SELECT coalesce(string_agg(r::text, E'\n' ORDER BY r::text), '') FROM %s r`, table)).Scan(&rows)
		if err != nil {
			t.Fatal(err)
		}
		out[table] = rows
	}
	return out
}

func unchanged(t *testing.T, w *world, before map[string]string) {
	t.Helper()
	after := snapshot(t, w)
	for _, table := range slices.Sorted(maps.Keys(before)) {
		if before[table] != after[table] {
			t.Errorf("%s changed:\nbefore:\n%s\nafter:\n%s", table, before[table], after[table])
		}
	}
}

type memberRow struct {
	Code, Name, Tier       string
	Email, Phone, Birthday *string
	Balance                int64
	DeletedAt              *time.Time
}

func readMember(t *testing.T, w *world, id string) memberRow {
	t.Helper()
	var m memberRow
	err := w.db.QueryRow(context.Background(), `
		SELECT member_code, display_name, tier_id, email, phone, birthday::text, points_balance, deleted_at
		FROM members WHERE id = $1`, id).Scan(&m.Code, &m.Name, &m.Tier, &m.Email, &m.Phone, &m.Birthday, &m.Balance, &m.DeletedAt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func couponStatus(t *testing.T, w *world, id string) string {
	t.Helper()
	var s string
	if err := w.db.QueryRow(context.Background(), `SELECT status FROM coupons WHERE id = $1`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeleteMyAccountForfeitsThePointsCancelsLiveCouponsAnonymisesAndDeletesTheCognitoUser(t *testing.T) {
	a := newAccounts(t)
	id, code := a.signUp(t, "aiko")
	_, otherCode := a.signUp(t, "bob")
	must[loyalty.EarnPointsOutput](t)(a.earn(code, "R-1", 50_000)) // 500 points
	must[loyalty.EarnPointsOutput](t)(a.earn(otherCode, "R-2", 10_000))
	live := a.redeem(t, id, lt.RewardSpec{Cost: 100, ValidDays: 30})
	used := a.redeem(t, id, lt.RewardSpec{Cost: 100, ValidDays: 30})
	must[loyalty.UseCouponOutput](t)(a.svc.UseCoupon(context.Background(), a.crew, loyalty.UseCouponInput{StoreID: a.store, CouponCode: used.CouponCode}))
	lapsed := a.redeem(t, id, lt.RewardSpec{Cost: 100, ValidDays: 1})
	a.now = a.now.Add(48 * time.Hour) // lapsed is past its expiry, not yet marked by expire_coupons
	if b := lt.Balance(t, a.db, id); b != 200 {
		t.Fatalf("balance %d before the deletion, want 200", b)
	}
	entries := lt.Count(t, a.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1`, id)
	usedBefore := snapshotCoupon(t, a.world, used.CouponID)
	before := readMember(t, a.world, id)

	a.deleteAccount(t, id)

	t.Run("the balance is forfeited with one adjust entry", func(t *testing.T) {
		if b := lt.Balance(t, a.db, id); b != 0 {
			t.Errorf("balance %d, want 0", b)
		}
		if n := lt.Count(t, a.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1`, id); n != entries+1 {
			t.Errorf("%d ledger entries, want %d: the ones before and the forfeit", n, entries+1)
		}
		n := lt.Count(t, a.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1 AND kind = 'adjust' AND points = -200
			AND balance_after = 0 AND reason = $2 AND idempotency_key = $3 AND created_at = $4`, id, loyalty.AccountDeletedReason, "delete:"+id, a.now)
		if n != 1 {
			t.Errorf("%d forfeit entries of -200 with reason %q and key delete:<id>, want 1", n, loyalty.AccountDeletedReason)
		}
		if n := lt.Count(t, a.db, `SELECT coalesce(sum(remaining), 0) FROM point_lots WHERE member_id = $1`, id); n != 0 {
			t.Errorf("the lots still hold %d points", n)
		}
	})
	t.Run("the live coupon is cancelled, the used one untouched, the lapsed one left for expiry", func(t *testing.T) {
		if s := couponStatus(t, a.world, live.CouponID); s != "cancelled" {
			t.Errorf("live coupon is %s, want cancelled", s)
		}
		if got := snapshotCoupon(t, a.world, used.CouponID); got != usedBefore {
			t.Errorf("the used coupon changed:\n%s\n%s", usedBefore, got)
		}
		if s := couponStatus(t, a.world, lapsed.CouponID); s != "issued" {
			t.Errorf("lapsed coupon is %s, want issued (expire_coupons marks it expired)", s)
		}
		_, err := a.svc.UseCoupon(context.Background(), a.crew, loyalty.UseCouponInput{StoreID: a.store, CouponCode: live.CouponCode})
		wantCode(t, err, loyalty.CodeCouponExpired)
	})
	t.Run("the member row is anonymised and keeps its id, code and tier", func(t *testing.T) {
		got := readMember(t, a.world, id)
		want := memberRow{Code: before.Code, Name: loyalty.DeletedDisplayName, Tier: before.Tier, Balance: 0, DeletedAt: &a.now}
		if got.Code != want.Code || got.Name != want.Name || got.Tier != want.Tier || got.Email != nil || got.Phone != nil ||
			got.Birthday != nil || got.Balance != 0 || got.DeletedAt == nil || !got.DeletedAt.Equal(a.now) {
			t.Errorf("member row = %+v; want %+v with no email, phone or birthday", got, want)
		}
	})
	t.Run("the Cognito user is gone and the other member's is not", func(t *testing.T) {
		if a.local.HasUser(t, a.pool, "aiko") {
			t.Error("the deleted member's Cognito user is still in the pool")
		}
		if !a.local.HasUser(t, a.pool, "bob") {
			t.Error("the other member's Cognito user was deleted")
		}
	})
	t.Run("a repeat answers deleted and changes nothing", func(t *testing.T) {
		snap := snapshot(t, a.world)
		a.now = a.now.Add(time.Minute)
		a.deleteAccount(t, id)
		unchanged(t, a.world, snap)
	})
	t.Run("the deleted member can do nothing any more, and their card credits nobody", func(t *testing.T) {
		snap := snapshot(t, a.world)
		_, err := a.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: lt.Reward(t, a.db, lt.RewardSpec{Cost: 1}), IdempotencyKey: "after"})
		wantCode(t, err, loyalty.CodeNotRegistered)
		_, err = a.svc.RegisterMember(context.Background(), member(id), loyalty.RegisterMemberInput{DisplayName: "Aiko again"})
		wantCode(t, err, loyalty.CodeForbidden)
		_, err = a.earn(before.Code, "R-3", 1000)
		wantCode(t, err, loyalty.CodeNotFound)
		snap["rewards"] = snapshot(t, a.world)["rewards"] // the reward made above
		unchanged(t, a.world, snap)
	})
}

func snapshotCoupon(t *testing.T, w *world, id string) string {
	t.Helper()
	var row string
	if err := w.db.QueryRow(context.Background(), `SELECT c::text FROM coupons c WHERE id = $1`, id).Scan(&row); err != nil {
		t.Fatal(err)
	}
	return row
}

func TestDeleteMyAccountWritesOffADebtAndWritesNothingForAnEmptyBalance(t *testing.T) {
	a := newAccounts(t)

	t.Run("a negative balance is written off to zero with one adjust entry", func(t *testing.T) {
		id, code := a.signUp(t, "debtor")
		must[loyalty.EarnPointsOutput](t)(a.earn(code, "D-1", 10_000)) // 100 points
		a.redeem(t, id, lt.RewardSpec{Cost: 100})
		must[loyalty.RefundOrderOutput](t)(a.svc.RefundOrder(context.Background(), a.manager, loyalty.RefundOrderInput{StoreID: a.store, ReceiptNo: "D-1"}))
		if b := lt.Balance(t, a.db, id); b != -100 {
			t.Fatalf("balance %d after refunding spent points, want -100", b)
		}
		entries := lt.Count(t, a.db, `SELECT count(*) FROM point_transactions`)
		a.deleteAccount(t, id)
		if b := lt.Balance(t, a.db, id); b != 0 {
			t.Errorf("balance %d, want the debt written off to 0", b)
		}
		if n := lt.Count(t, a.db, `SELECT count(*) FROM point_transactions`); n != entries+1 {
			t.Errorf("%d ledger entries written, want the one write-off", n-entries)
		}
		if n := lt.Count(t, a.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1 AND kind = 'adjust' AND points = 100
			AND balance_after = 0 AND reason = $2 AND idempotency_key = $3`, id, loyalty.AccountDeletedReason, "delete:"+id); n != 1 {
			t.Errorf("%d write-off entries of +100 with reason %q, want 1", n, loyalty.AccountDeletedReason)
		}
		if m := readMember(t, a.world, id); m.Name != loyalty.DeletedDisplayName || m.Email != nil || m.DeletedAt == nil {
			t.Errorf("member row = %+v; want it anonymised", m)
		}
		if a.local.HasUser(t, a.pool, "debtor") {
			t.Error("the Cognito user is still in the pool")
		}
	})
	t.Run("a zero balance writes no entry", func(t *testing.T) {
		id, _ := a.signUp(t, "empty")
		entries := lt.Count(t, a.db, `SELECT count(*) FROM point_transactions`)
		a.deleteAccount(t, id)
		if n := lt.Count(t, a.db, `SELECT count(*) FROM point_transactions`); n != entries {
			t.Errorf("%d ledger entries written for an empty balance, want none", n-entries)
		}
		if a.local.HasUser(t, a.pool, "empty") {
			t.Error("the Cognito user is still in the pool")
		}
	})
}

func TestDeleteMyAccountGivesLimitedStockBackAndDeactivatesStaffRows(t *testing.T) {
	a := newAccounts(t)
	id, code := a.signUp(t, "crew-member")
	must[loyalty.EarnPointsOutput](t)(a.earn(code, "R-1", 50_000)) // 500 points
	limited := lt.Reward(t, a.db, lt.RewardSpec{Cost: 100, Stock: ptr(5)})
	unlimited := lt.Reward(t, a.db, lt.RewardSpec{Cost: 100})
	for _, reward := range []string{limited, limited, unlimited} {
		must[loyalty.RedeemRewardOutput](t)(a.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: uuid.NewString()}))
	}
	// The same user also works at two stores.
	lt.Exec(t, a.db, `INSERT INTO staff (user_id, store_id, role) VALUES ($1, $2, 'crew')`, id, a.store)
	lt.Exec(t, a.db, `INSERT INTO staff (user_id, store_id, role) VALUES ($1, $2, 'manager')`, id, lt.Store(t, a.db))

	a.deleteAccount(t, id)

	if n := lt.Count(t, a.db, `SELECT stock FROM rewards WHERE id = $1`, limited); n != 5 {
		t.Errorf("the limited reward's stock is %d, want its 2 cancelled units back (5)", n)
	}
	if n := lt.Count(t, a.db, `SELECT count(*) FROM rewards WHERE id = $1 AND stock IS NULL`, unlimited); n != 1 {
		t.Error("the unlimited reward got a stock")
	}
	if n := lt.Count(t, a.db, `SELECT count(*) FROM staff WHERE user_id = $1 AND active`, id); n != 0 {
		t.Errorf("%d staff rows still active", n)
	}
	_, err := a.svc.EarnPoints(context.Background(), loyalty.Caller{Role: loyalty.RoleStaff, UserID: id},
		loyalty.EarnPointsInput{StoreID: a.store, ReceiptNo: "R-2", Amount: 1000, MemberCode: &code})
	wantCode(t, err, loyalty.CodeForbidden)
}

func TestDeleteMyAccountOfAUserWhoNeverRegisteredDeletesTheirCognitoUser(t *testing.T) {
	a := newAccounts(t)
	a.signUp(t, "aiko")
	stranger := a.local.NewUser(t, a.pool, "stranger") // signed up, never registered
	lt.Exec(t, a.db, `INSERT INTO staff (user_id, store_id, role) VALUES ($1, $2, 'crew')`, stranger, a.store)
	snap := snapshot(t, a.world)
	a.deleteAccount(t, stranger)
	unchanged(t, a.world, snap)
	if a.local.HasUser(t, a.pool, "stranger") {
		t.Error("the user's Cognito account is still in the pool")
	}
	if !a.local.HasUser(t, a.pool, "aiko") {
		t.Error("another user's Cognito account was deleted")
	}
	if n := lt.Count(t, a.db, `SELECT count(*) FROM staff WHERE user_id = $1 AND active`, stranger); n != 0 {
		t.Error("the user's staff row is still active")
	}
	a.deleteAccount(t, stranger) // a repeat is fine
}

// A Cognito outage after the database part: the call fails with a retryable error, the
// database part stays done, and the retry deletes the Cognito user and changes nothing else.
func TestARetryAfterCognitoFailedDeletesTheUserOnly(t *testing.T) {
	a := newAccounts(t)
	id, code := a.signUp(t, "aiko")
	must[loyalty.EarnPointsOutput](t)(a.earn(code, "R-1", 10_000))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() // nothing listens there once closed
	ln.Close()
	unreachable, err := cognito.New(context.Background(), cognito.Config{Region: cognitotest.Region, UserPoolID: a.pool, Endpoint: down})
	if err != nil {
		t.Fatal(err)
	}
	outage := loyalty.New(a.db, loyalty.WithClock(func() time.Time { return a.now }), loyalty.WithAccountDirectory(unreachable))

	_, err = outage.DeleteMyAccount(context.Background(), member(id), struct{}{})
	var refusal *loyalty.Error
	var temporary hasura.Temporary
	switch {
	case err == nil:
		t.Fatal("deleteMyAccount succeeded while Cognito was unreachable")
	case errors.As(err, &refusal):
		t.Fatalf("err = %v: a refusal (4xx), but the database part is done and a retry finishes it", err)
	case !errors.As(err, &temporary) || !temporary.Temporary():
		t.Fatalf("err = %v; want a temporary error (503)", err)
	}
	if m := readMember(t, a.world, id); m.DeletedAt == nil || m.Balance != 0 || m.Name != loyalty.DeletedDisplayName {
		t.Fatalf("member row after the failed call = %+v; want the database part done", m)
	}
	if !a.local.HasUser(t, a.pool, "aiko") {
		t.Fatal("the Cognito user is gone, though Cognito was unreachable")
	}

	snap := snapshot(t, a.world)
	a.now = a.now.Add(time.Minute)
	a.deleteAccount(t, id)
	if a.local.HasUser(t, a.pool, "aiko") {
		t.Error("the retry left the Cognito user")
	}
	unchanged(t, a.world, snap)
}

func TestDeleteMyAccountRefusals(t *testing.T) {
	a := newAccounts(t)
	id, _ := a.signUp(t, "aiko")
	a.local.NewUser(t, a.pool, "stranger") // signed up, never registered
	cases := []struct {
		name   string
		svc    *loyalty.Service
		caller loyalty.Caller
		code   loyalty.Code
	}{
		{"staff may not", a.svc, a.crew, loyalty.CodeForbidden},
		{"an admin may not, having no member id", a.svc, lt.Admin, loyalty.CodeForbidden},
		{"an admin naming the member may not", a.svc, loyalty.Caller{Role: loyalty.RoleAdmin, UserID: id}, loyalty.CodeForbidden},
		{"staff naming the member may not", a.svc, loyalty.Caller{Role: loyalty.RoleStaff, UserID: id}, loyalty.CodeForbidden},
		{"anonymous may not", a.svc, loyalty.Caller{Role: loyalty.RoleAnonymous}, loyalty.CodeForbidden},
		{"a member session whose user id is not a uuid", a.svc, member("aiko"), loyalty.CodeForbidden},
		{"without a Cognito pool configured", a.world.svc, member(id), loyalty.CodeNotConfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := snapshot(t, a.world)
			_, err := c.svc.DeleteMyAccount(context.Background(), c.caller, struct{}{})
			wantCode(t, err, c.code)
			unchanged(t, a.world, snap)
			if !a.local.HasUser(t, a.pool, "aiko") || !a.local.HasUser(t, a.pool, "stranger") {
				t.Fatal("a refused call deleted a Cognito user")
			}
		})
	}
	t.Run("the not_configured message names COGNITO_USER_POOL_ID", func(t *testing.T) {
		_, err := a.world.svc.DeleteMyAccount(context.Background(), member(id), struct{}{})
		var le *loyalty.Error
		if !errors.As(err, &le) || !strings.Contains(le.Message, "COGNITO_USER_POOL_ID") {
			t.Fatalf("err = %v; want a message naming COGNITO_USER_POOL_ID", err)
		}
	})
}
