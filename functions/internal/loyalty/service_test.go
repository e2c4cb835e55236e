package loyalty_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// world is one test's database, service, clock and a store with a crew member and a manager.
type world struct {
	t       *testing.T
	db      *pgxpool.Pool
	svc     *loyalty.Service
	now     time.Time
	store   string
	crew    loyalty.Caller
	manager loyalty.Caller
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, db: pgtest.Pool(t), now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	w.svc = loyalty.New(w.db, loyalty.WithClock(func() time.Time { return w.now }))
	w.store = lt.Store(t, w.db)
	w.crew = loyalty.Caller{Role: loyalty.RoleStaff, UserID: lt.Staff(t, w.db, w.store, loyalty.Crew)}
	w.manager = loyalty.Caller{Role: loyalty.RoleStaff, UserID: lt.Staff(t, w.db, w.store, loyalty.Manager)}
	// Seeds: 1 point per 100, x1 / x1.25 / x1.5, points valid 365 days, orders up to 1,000,000.
	t.Cleanup(func() { lt.CheckInvariants(t, w.db) })
	return w
}

func member(id string) loyalty.Caller { return loyalty.Caller{Role: loyalty.RoleMember, UserID: id} }

func (w *world) earn(code, receipt string, amount int64) (loyalty.EarnPointsOutput, error) {
	return w.svc.EarnPoints(context.Background(), w.crew, loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: receipt, Amount: amount, MemberCode: &code})
}

func wantCode(t *testing.T, err error, code loyalty.Code) {
	t.Helper()
	var le *loyalty.Error
	if !errors.As(err, &le) || le.Code != code {
		t.Fatalf("err = %v; want code %s", err, code)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestEarnCreditsTheReceiptOnceAndOpensALot(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	out := must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-1", 1250))
	if out.PointsEarned != 12 || out.PointsBalance != 12 || out.MemberID != id || out.Duplicate || out.TierID != "member" {
		t.Fatalf("first earn = %+v", out)
	}
	again := must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-1", 1250))
	if !again.Duplicate || again.TransactionID != out.TransactionID || again.PointsEarned != 12 || again.PointsBalance != 12 {
		t.Fatalf("repeat = %+v; want the first result marked duplicate", again)
	}
	if b := lt.Balance(t, w.db, id); b != 12 {
		t.Fatalf("balance %d after a repeat, want 12", b)
	}
	var expires time.Time
	if err := w.db.QueryRow(context.Background(), `SELECT expires_at FROM point_lots WHERE member_id = $1`, id).Scan(&expires); err != nil {
		t.Fatal(err)
	}
	if want := w.now.AddDate(0, 0, 365); !expires.Equal(want) {
		t.Fatalf("lot expires %v, want %v", expires, want)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM orders WHERE store_id = $1 AND receipt_no = 'R-1' AND member_id = $2`, w.store, id); n != 1 {
		t.Fatalf("orders recorded: %d", n)
	}
}

func TestEarnRefusals(t *testing.T) {
	w := newWorld(t)
	_, code := lt.Member(t, w.db)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-1", 1000))
	otherID, otherCode := lt.Member(t, w.db)
	_ = otherID
	unknown := loyalty.NewMemberCode()
	qr := "some.qr.token"
	cases := []struct {
		name string
		in   loyalty.EarnPointsInput
		want loyalty.Code
	}{
		{"the same receipt with another amount", loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: "R-1", Amount: 999, MemberCode: &code}, loyalty.CodeReceiptConflict},
		{"the same receipt for another member", loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: "R-1", Amount: 1000, MemberCode: &otherCode}, loyalty.CodeReceiptConflict},
		{"an order above max_order_amount", loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: "R-2", Amount: 1_000_001, MemberCode: &code}, loyalty.CodeOrderOverLimit},
		{"an unknown member code", loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: "R-3", Amount: 100, MemberCode: &unknown}, loyalty.CodeNotFound},
		{"a QR token while QR is not configured", loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: "R-4", Amount: 100, MemberQRToken: &qr}, loyalty.CodeQRInvalid},
		{"both a QR token and a member code", loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: "R-5", Amount: 100, MemberQRToken: &qr, MemberCode: &code}, loyalty.CodeInvalidInput},
		{"neither a QR token nor a member code", loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: "R-6", Amount: 100}, loyalty.CodeInvalidInput},
		{"a zero amount", loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: "R-7", Amount: 0, MemberCode: &code}, loyalty.CodeInvalidInput},
		{"a store id that is not a uuid", loyalty.EarnPointsInput{StoreID: "shibuya", ReceiptNo: "R-8", Amount: 100, MemberCode: &code}, loyalty.CodeInvalidInput},
		{"a missing receipt number", loyalty.EarnPointsInput{StoreID: w.store, Amount: 100, MemberCode: &code}, loyalty.CodeInvalidInput},
		{"a member code with a wrong check digit", loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: "R-9", Amount: 100, MemberCode: ptr(code[:9] + string('0'+(code[9]-'0'+1)%10))}, loyalty.CodeInvalidInput},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions`) + lt.Count(t, w.db, `SELECT count(*) FROM orders`)
			_, err := w.svc.EarnPoints(context.Background(), w.crew, c.in)
			wantCode(t, err, c.want)
			after := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions`) + lt.Count(t, w.db, `SELECT count(*) FROM orders`)
			if after != before {
				t.Fatal("a refused earn changed the database")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestEarnUpgradesTheTierAndAppliesItsMultiplierNextTime(t *testing.T) {
	w := newWorld(t)
	_, code := lt.Member(t, w.db)
	out := must[loyalty.EarnPointsOutput](t)(w.earn(code, "big", 100_000)) // 1000 points: silver
	if out.TierID != "silver" || out.PointsEarned != 1000 {
		t.Fatalf("after 1000 points: %+v", out)
	}
	out = must[loyalty.EarnPointsOutput](t)(w.earn(code, "next", 1000)) // 10 base, x1.25
	if out.PointsEarned != 12 {
		t.Fatalf("silver earned %d on 10 base points, want 12", out.PointsEarned)
	}
}

func TestAnEarnLaterPaysADebtFirst(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-1", 10_000)) // 100 points
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 100})
	must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "k"}))
	r := must[loyalty.RefundOrderOutput](t)(w.svc.RefundOrder(context.Background(), w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1"}))
	if r.PointsReversed != 100 || r.PointsBalance == nil || *r.PointsBalance != -100 {
		t.Fatalf("refund of spent points = %+v; want balance -100", r)
	}
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-2", 15_000)) // 150 points: 100 pay the debt
	if b := lt.Balance(t, w.db, id); b != 50 {
		t.Fatalf("balance %d, want 50", b)
	}
	if n := lt.Count(t, w.db, `SELECT sum(remaining) FROM point_lots WHERE member_id = $1`, id); n != 50 {
		t.Fatalf("lots hold %d, want 50", n)
	}
}

func TestRedeemSpendsFromTheLotsThatExpireFirst(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 60) // expires first
	w.now = w.now.Add(24 * time.Hour)
	lt.Give(t, w.svc, id, 80)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 100})
	out := must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "k1"}))
	if out.PointsSpent != 100 || out.PointsBalance != 40 || len(out.CouponCode) != loyalty.CouponCodeLength {
		t.Fatalf("redeem = %+v", out)
	}
	if want := w.now.AddDate(0, 0, 30); !out.ExpiresAt.Equal(want) {
		t.Fatalf("coupon expires %v, want %v", out.ExpiresAt, want)
	}
	rows, err := w.db.Query(context.Background(), `SELECT points, remaining FROM point_lots WHERE member_id = $1 ORDER BY expires_at`, id)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]int64
	for rows.Next() {
		var p, r int64
		_ = rows.Scan(&p, &r)
		got = append(got, [2]int64{p, r})
	}
	if len(got) != 2 || got[0] != [2]int64{60, 0} || got[1] != [2]int64{80, 40} {
		t.Fatalf("lots after spending 100 = %v; want [[60 0] [80 40]]", got)
	}
	again := must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "k1"}))
	if again != out {
		t.Fatalf("repeat = %+v; want the first coupon %+v", again, out)
	}
	other := lt.Reward(t, w.db, lt.RewardSpec{Cost: 1})
	_, err = w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: other, IdempotencyKey: "k1"})
	wantCode(t, err, loyalty.CodeInvalidInput)
}

func TestRedeemRefusals(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 500)
	one, zero := 1, 0
	limited := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, PerMemberLimit: &one})
	must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: limited, IdempotencyKey: "first"}))
	inactive := lt.Reward(t, w.db, lt.RewardSpec{})
	lt.Exec(t, w.db, `UPDATE rewards SET active = false WHERE id = $1`, inactive)
	future := lt.Reward(t, w.db, lt.RewardSpec{})
	lt.Exec(t, w.db, `UPDATE rewards SET active_from = $2 WHERE id = $1`, future, w.now.Add(time.Hour))
	ended := lt.Reward(t, w.db, lt.RewardSpec{})
	lt.Exec(t, w.db, `UPDATE rewards SET active_to = $2 WHERE id = $1`, ended, w.now)
	unregistered := uuid.NewString()
	cases := []struct {
		name   string
		caller loyalty.Caller
		reward string
		want   loyalty.Code
	}{
		{"a reward that does not exist", member(id), uuid.NewString(), loyalty.CodeNotFound},
		{"an inactive reward", member(id), inactive, loyalty.CodeRewardUnavailable},
		{"a reward before its window", member(id), future, loyalty.CodeRewardUnavailable},
		{"a reward after its window", member(id), ended, loyalty.CodeRewardUnavailable},
		{"a reward for a higher tier", member(id), lt.Reward(t, w.db, lt.RewardSpec{MinTierRank: 1}), loyalty.CodeTierTooLow},
		{"a reward whose per-member limit is reached", member(id), limited, loyalty.CodeLimitReached},
		{"a reward costing more than the balance", member(id), lt.Reward(t, w.db, lt.RewardSpec{Cost: 491}), loyalty.CodeInsufficientPoints},
		{"a reward out of stock", member(id), lt.Reward(t, w.db, lt.RewardSpec{Stock: &zero}), loyalty.CodeOutOfStock},
		{"a caller who never registered", member(unregistered), limited, loyalty.CodeNotRegistered},
		{"a staff caller", w.crew, limited, loyalty.CodeForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := lt.Balance(t, w.db, id)
			_, err := w.svc.RedeemReward(context.Background(), c.caller, loyalty.RedeemRewardInput{RewardID: c.reward, IdempotencyKey: uuid.NewString()})
			wantCode(t, err, c.want)
			if lt.Balance(t, w.db, id) != before {
				t.Fatal("a refused redemption moved the balance")
			}
		})
	}
}

func TestUseCoupon(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 1000)
	otherStore := lt.Store(t, w.db)
	otherCrew := loyalty.Caller{Role: loyalty.RoleStaff, UserID: lt.Staff(t, w.db, otherStore, loyalty.Crew)}
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})
	onlyHere := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, StoreID: &w.store})
	redeem := func(reward string) string {
		return must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: uuid.NewString()})).CouponCode
	}
	code := redeem(reward)
	typed := code[:4] + "-" + code[4:]
	out := must[loyalty.UseCouponOutput](t)(w.svc.UseCoupon(context.Background(), w.crew, loyalty.UseCouponInput{StoreID: w.store, CouponCode: typed}))
	if out.MemberID != id || out.RewardID != reward || out.RewardName != "Test reward" || !out.UsedAt.Equal(w.now) {
		t.Fatalf("use = %+v", out)
	}
	_, err := w.svc.UseCoupon(context.Background(), w.crew, loyalty.UseCouponInput{StoreID: w.store, CouponCode: code})
	wantCode(t, err, loyalty.CodeCouponUsed)

	wrongStore := redeem(onlyHere)
	_, err = w.svc.UseCoupon(context.Background(), otherCrew, loyalty.UseCouponInput{StoreID: otherStore, CouponCode: wrongStore})
	wantCode(t, err, loyalty.CodeCouponWrongStore)
	_, err = w.svc.UseCoupon(context.Background(), otherCrew, loyalty.UseCouponInput{StoreID: w.store, CouponCode: wrongStore})
	wantCode(t, err, loyalty.CodeForbidden)

	late := redeem(reward)
	w.now = w.now.AddDate(0, 0, 30)
	_, err = w.svc.UseCoupon(context.Background(), w.crew, loyalty.UseCouponInput{StoreID: w.store, CouponCode: late})
	wantCode(t, err, loyalty.CodeCouponExpired)
	_, err = w.svc.UseCoupon(context.Background(), w.crew, loyalty.UseCouponInput{StoreID: w.store, CouponCode: "ZZZZZZZZ"})
	wantCode(t, err, loyalty.CodeNotFound)
	_, err = w.svc.UseCoupon(context.Background(), member(id), loyalty.UseCouponInput{StoreID: w.store, CouponCode: late})
	wantCode(t, err, loyalty.CodeForbidden)
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE status = 'used'`); n != 1 {
		t.Fatalf("%d coupons used, want 1", n)
	}
}

func TestPartialRefundsReverseInProportionAndNeverMoreThanEarned(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-1", 1500)) // 15 points
	steps := []struct {
		amount   int64
		reversed int64
		balance  int64
	}{{500, 5, 10}, {499, 4, 6}, {501, 6, 0}}
	for _, s := range steps {
		out := must[loyalty.RefundOrderOutput](t)(w.svc.RefundOrder(context.Background(), w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1", Amount: &s.amount}))
		if out.PointsReversed != s.reversed || *out.PointsBalance != s.balance {
			t.Fatalf("refund of %d = %+v; want %d reversed, balance %d", s.amount, out, s.reversed, s.balance)
		}
	}
	var status string
	var refunded int64
	if err := w.db.QueryRow(context.Background(), `SELECT status, refunded_amount FROM orders WHERE receipt_no = 'R-1'`).Scan(&status, &refunded); err != nil {
		t.Fatal(err)
	}
	if status != "refunded" || refunded != 1500 {
		t.Fatalf("order %s %d; want refunded 1500", status, refunded)
	}
	// A repeated full refund changes nothing; a partial one beyond the order is refused.
	out := must[loyalty.RefundOrderOutput](t)(w.svc.RefundOrder(context.Background(), w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1"}))
	if out.PointsReversed != 0 || out.TransactionID != nil {
		t.Fatalf("repeated full refund = %+v", out)
	}
	_, err := w.svc.RefundOrder(context.Background(), w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1", Amount: ptr(int64(1))})
	wantCode(t, err, loyalty.CodeInvalidInput)
	if b := lt.Balance(t, w.db, id); b != 0 {
		t.Fatalf("balance %d, want 0", b)
	}
}

func TestRefundRefusals(t *testing.T) {
	w := newWorld(t)
	_, code := lt.Member(t, w.db)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-1", 1500))
	cases := []struct {
		name   string
		caller loyalty.Caller
		in     loyalty.RefundOrderInput
		want   loyalty.Code
	}{
		{"crew may not refund", w.crew, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1"}, loyalty.CodeForbidden},
		{"an unknown receipt", w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "nope"}, loyalty.CodeNotFound},
		{"more than the order", w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1", Amount: ptr(int64(1501))}, loyalty.CodeInvalidInput},
		{"a negative amount", w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1", Amount: ptr(int64(-5))}, loyalty.CodeInvalidInput},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := w.svc.RefundOrder(context.Background(), c.caller, c.in)
			wantCode(t, err, c.want)
			if n := lt.Count(t, w.db, `SELECT refunded_amount FROM orders WHERE receipt_no = 'R-1'`); n != 0 {
				t.Fatal("a refused refund changed the order")
			}
		})
	}
}

func TestAdjustPoints(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	in := loyalty.AdjustPointsInput{MemberID: id, Points: 50, Reason: "goodwill", IdempotencyKey: "adj-1"}
	first := must[loyalty.AdjustPointsOutput](t)(w.svc.AdjustPoints(context.Background(), lt.Admin, in))
	again := must[loyalty.AdjustPointsOutput](t)(w.svc.AdjustPoints(context.Background(), lt.Admin, in))
	if first.PointsBalance != 50 || again != first {
		t.Fatalf("first %+v, repeat %+v", first, again)
	}
	_, err := w.svc.AdjustPoints(context.Background(), lt.Admin, loyalty.AdjustPointsInput{MemberID: id, Points: -51, Reason: "fix", IdempotencyKey: "adj-2"})
	wantCode(t, err, loyalty.CodeInsufficientPoints)
	out := must[loyalty.AdjustPointsOutput](t)(w.svc.AdjustPoints(context.Background(), lt.Admin, loyalty.AdjustPointsInput{MemberID: id, Points: -50, Reason: "fix", IdempotencyKey: "adj-3"}))
	if out.PointsBalance != 0 {
		t.Fatalf("balance %d after taking all", out.PointsBalance)
	}
	_, err = w.svc.AdjustPoints(context.Background(), lt.Admin, loyalty.AdjustPointsInput{MemberID: id, Points: 5, Reason: "other", IdempotencyKey: "adj-1"})
	wantCode(t, err, loyalty.CodeInvalidInput)
	_, err = w.svc.AdjustPoints(context.Background(), w.manager, loyalty.AdjustPointsInput{MemberID: id, Points: 5, Reason: "x", IdempotencyKey: "adj-4"})
	wantCode(t, err, loyalty.CodeForbidden)
	_, err = w.svc.AdjustPoints(context.Background(), lt.Admin, loyalty.AdjustPointsInput{MemberID: id, Points: 0, Reason: "x", IdempotencyKey: "adj-5"})
	wantCode(t, err, loyalty.CodeInvalidInput)
	_, err = w.svc.AdjustPoints(context.Background(), lt.Admin, loyalty.AdjustPointsInput{MemberID: uuid.NewString(), Points: 5, Reason: "x", IdempotencyKey: "adj-6"})
	wantCode(t, err, loyalty.CodeNotFound)
}

func TestRegisterMember(t *testing.T) {
	w := newWorld(t)
	id := uuid.NewString()
	in := loyalty.RegisterMemberInput{DisplayName: " Aiko ", Email: ptr("aiko@example.com")}
	first := must[loyalty.RegisterMemberOutput](t)(w.svc.RegisterMember(context.Background(), member(id), in))
	if !first.Created || first.MemberID != id || !loyalty.ValidMemberCode(first.MemberCode) || first.TierID != "member" || first.PointsBalance != 0 {
		t.Fatalf("register = %+v", first)
	}
	again := must[loyalty.RegisterMemberOutput](t)(w.svc.RegisterMember(context.Background(), member(id), loyalty.RegisterMemberInput{DisplayName: "Other"}))
	if again.Created || again.MemberCode != first.MemberCode {
		t.Fatalf("second register = %+v", again)
	}
	var name string
	_ = w.db.QueryRow(context.Background(), `SELECT display_name FROM members WHERE id = $1`, id).Scan(&name)
	if name != "Aiko" {
		t.Fatalf("display_name %q", name)
	}
	for _, bad := range []loyalty.RegisterMemberInput{
		{DisplayName: "  "},
		{DisplayName: "A", Email: ptr("not an address")},
		{DisplayName: "A", Birthday: &loyalty.Date{Time: w.now.AddDate(1, 0, 0)}},
	} {
		_, err := w.svc.RegisterMember(context.Background(), member(uuid.NewString()), bad)
		wantCode(t, err, loyalty.CodeInvalidInput)
	}
	_, err := w.svc.RegisterMember(context.Background(), w.crew, loyalty.RegisterMemberInput{DisplayName: "Crew"})
	wantCode(t, err, loyalty.CodeForbidden)
	lt.Exec(t, w.db, `UPDATE members SET deleted_at = now() WHERE id = $1`, id)
	_, err = w.svc.RegisterMember(context.Background(), member(id), in)
	wantCode(t, err, loyalty.CodeForbidden)
}

func TestARetriedRefundWithAnIdempotencyKeyRefundsOnce(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-1", 2000)) // 20 points
	in := loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1", Amount: ptr(int64(500)), IdempotencyKey: ptr("till-7-refund-1")}
	first := must[loyalty.RefundOrderOutput](t)(w.svc.RefundOrder(context.Background(), w.manager, in))
	again := must[loyalty.RefundOrderOutput](t)(w.svc.RefundOrder(context.Background(), w.manager, in))
	if first.PointsReversed != 5 || again.PointsReversed != 5 || *again.TransactionID != *first.TransactionID || *again.PointsBalance != 15 {
		t.Fatalf("first %+v, retry %+v; want the same answer", first, again)
	}
	if n := lt.Count(t, w.db, `SELECT refunded_amount FROM orders WHERE receipt_no = 'R-1'`); n != 500 {
		t.Fatalf("refunded_amount %d after a retried refund of 500", n)
	}
	// The same key for another amount is a mistake, not a retry.
	_, err := w.svc.RefundOrder(context.Background(), w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1", Amount: ptr(int64(600)), IdempotencyKey: ptr("till-7-refund-1")})
	wantCode(t, err, loyalty.CodeInvalidInput)
	// Another key is another refund.
	must[loyalty.RefundOrderOutput](t)(w.svc.RefundOrder(context.Background(), w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1", Amount: ptr(int64(500)), IdempotencyKey: ptr("till-7-refund-2")}))
	if b := lt.Balance(t, w.db, id); b != 10 {
		t.Fatalf("balance %d, want 10", b)
	}
}

func TestConcurrentRetriesOfOneKeyedRefundRefundOnce(t *testing.T) {
	w := newWorld(t)
	_, code := lt.Member(t, w.db)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-1", 2000))
	ok, codes := parallel(t, 20, func(int) error {
		_, err := w.svc.RefundOrder(context.Background(), w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-1", Amount: ptr(int64(300)), IdempotencyKey: ptr("k")})
		return err
	})
	if ok != 20 || len(codes) != 0 {
		t.Fatalf("%d answered, refusals %v; want 20 answers", ok, codes)
	}
	if n := lt.Count(t, w.db, `SELECT refunded_amount FROM orders WHERE receipt_no = 'R-1'`); n != 300 {
		t.Fatalf("refunded_amount %d, want 300", n)
	}
}

func TestEarningAPartlyRefundedPOSOrderCreditsWhatIsLeft(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	// The POS wrote the order without a member and refunded half before the member showed up.
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, amount, refunded_amount) VALUES ($1, 'POS-1', 2000, 1000)`, w.store)
	out := must[loyalty.EarnPointsOutput](t)(w.earn(code, "POS-1", 2000))
	if out.PointsEarned != 20 || out.PointsBalance != 10 || out.MemberID != id {
		t.Fatalf("earn = %+v; want 20 earned, 10 reversed, balance 10", out)
	}
	if b := lt.Balance(t, w.db, id); b != 10 {
		t.Fatalf("balance %d, want 10", b)
	}
}
