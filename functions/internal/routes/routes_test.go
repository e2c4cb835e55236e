package routes_test

// These tests drive the route table through HTTP, as Hasura graphql-engine v2 calls it: every
// request is built by hasuratest (Hasura's headers, the shared secret, its action body), every
// route runs on a real PostgreSQL (pgtest), and the answers are read back as Hasura reads them
// (DecodeOutput for a 200, DecodeError for a 4xx). A refusal is also checked to have changed
// nothing: every table the actions write is fingerprinted before and after.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/memberqr"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/server"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// in is an action's `input` argument as the client wrote it. A map, not the loyalty input
// type, so that a test can leave a field out, give it the wrong JSON type, or add a field the
// type does not have (the spoofing attempts).
type in = map[string]any

// world is one test's database, the served mux and a cast: a store with a crew member, a
// manager and two staff whose rows are inactive; another store with its own manager; and a
// closed store with its manager.
type world struct {
	db  *pgxpool.Pool
	svc *loyalty.Service
	h   http.Handler

	store, otherStore, closedStore string

	crew, manager                 string // active staff of store
	inactiveCrew, inactiveManager string // staff rows of store with active = false
	otherManager                  string // a manager, but of otherStore
	closedManager                 string // a manager of closedStore
}

func newWorld(t *testing.T, opts ...loyalty.Option) *world {
	t.Helper()
	db := pgtest.Pool(t)
	w := &world{db: db, svc: loyalty.New(db, opts...)}
	w.h = routes.Mux(routes.Table(&hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet}, w.svc), server.Health(db, nil))
	w.store, w.otherStore, w.closedStore = lt.Store(t, db), lt.Store(t, db), lt.Store(t, db)
	lt.Exec(t, db, `UPDATE stores SET active = false WHERE id = $1`, w.closedStore)
	w.crew = lt.Staff(t, db, w.store, loyalty.Crew)
	w.manager = lt.Staff(t, db, w.store, loyalty.Manager)
	w.inactiveCrew = lt.Staff(t, db, w.store, loyalty.Crew)
	w.inactiveManager = lt.Staff(t, db, w.store, loyalty.Manager)
	lt.Exec(t, db, `UPDATE staff SET active = false WHERE user_id = ANY($1::uuid[])`, []string{w.inactiveCrew, w.inactiveManager})
	w.otherManager = lt.Staff(t, db, w.otherStore, loyalty.Manager)
	w.closedManager = lt.Staff(t, db, w.closedStore, loyalty.Manager)
	t.Cleanup(func() { lt.CheckInvariants(t, db) })
	return w
}

// Sessions as Hasura sends them.
func member(id string) map[string]string { return hasuratest.Session("member", id) }
func staff(id string) map[string]string  { return hasuratest.Session("staff", id) }

var anonymous, admin = hasuratest.Anonymous(), hasuratest.Admin()

// do posts action with input to its own route.
func (w *world) do(t *testing.T, action string, input any, session map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	return hasuratest.Do(t, w.h, hasuratest.ActionRequest(t, action, map[string]any{"input": input}, session))
}

// call posts action and decodes its 200 answer into the action's output type.
func call[Out any](t *testing.T, w *world, action string, input any, session map[string]string) Out {
	t.Helper()
	return hasuratest.DecodeOutput[Out](t, w.do(t, action, input, session))
}

// fingerprint is, for every table an action may write, its row count and a hash of its rows.
func (w *world) fingerprint(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range []string{"members", "orders", "coupons", "point_transactions", "point_lots", "rewards", "staff", "stores"} {
		var n int64
		var hash string
		err := w.db.QueryRow(context.Background(), fmt.Sprintf(
			`SELECT count(*), coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') FROM %s r`, table)).Scan(&n, &hash)
		if err != nil {
			t.Fatalf("fingerprint %s: %v", table, err)
		}
		out[table] = fmt.Sprintf("%d rows, %s", n, hash)
	}
	return out
}

// unchanged fails the test when a table differs from before.
func (w *world) unchanged(t *testing.T, before map[string]string) {
	t.Helper()
	after := w.fingerprint(t)
	for _, table := range slices.Sorted(maps.Keys(before)) {
		if before[table] != after[table] {
			t.Errorf("a refused request changed %s: %s before, %s after", table, before[table], after[table])
		}
	}
}

// wantStatus is the status each domain code must get (any 4xx reaches the app the same way;
// the exact status is what logs show). Codes not listed get 400.
var wantStatus = map[loyalty.Code]int{
	loyalty.CodeForbidden:       http.StatusForbidden,
	loyalty.CodeNotFound:        http.StatusNotFound,
	loyalty.CodeNotRegistered:   http.StatusNotFound,
	loyalty.CodeReceiptConflict: http.StatusConflict,
	loyalty.CodeCouponUsed:      http.StatusConflict,
}

func statusOf(c loyalty.Code) int {
	if s, ok := wantStatus[c]; ok {
		return s
	}
	return http.StatusBadRequest
}

// refusal is a request that must be refused with code and change nothing.
type refusal struct {
	name    string
	input   any
	session map[string]string
	code    loyalty.Code
}

// refuseAll runs each refusal of action as a subtest.
func (w *world) refuseAll(t *testing.T, action string, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w.refuse(t, action, c.input, c.session, c.code)
		})
	}
}

func (w *world) refuse(t *testing.T, action string, input any, session map[string]string, code loyalty.Code) hasura.Body {
	t.Helper()
	before := w.fingerprint(t)
	rec := w.do(t, action, input, session)
	body := hasuratest.DecodeError(t, rec)
	if body.Extensions.Code != string(code) || rec.Code != statusOf(code) {
		t.Errorf("answered %d %q (%s), want %d %q", rec.Code, body.Extensions.Code, body.Message, statusOf(code), code)
	}
	w.unchanged(t, before)
	return body
}

// earn credits a receipt at store through earnPoints.
func (w *world) earn(t *testing.T, session map[string]string, store, receipt string, amount int64, memberCode string) loyalty.EarnPointsOutput {
	t.Helper()
	return call[loyalty.EarnPointsOutput](t, w, "earnPoints",
		in{"storeId": store, "receiptNo": receipt, "amount": amount, "memberCode": memberCode}, session)
}

// redeem spends a member's points on reward through redeemReward.
func (w *world) redeem(t *testing.T, memberID, reward string) loyalty.RedeemRewardOutput {
	t.Helper()
	return call[loyalty.RedeemRewardOutput](t, w, "redeemReward", in{"rewardId": reward, "idempotencyKey": uuid.NewString()}, member(memberID))
}

func (w *world) memberRow(t *testing.T, id string) string {
	t.Helper()
	var row string
	if err := w.db.QueryRow(context.Background(), `SELECT m::text FROM members m WHERE id = $1`, id).Scan(&row); err != nil {
		t.Fatal(err)
	}
	return row
}

// between checks that got is within [from, to] (the service reads its own clock).
func between(t *testing.T, what string, got, from, to time.Time) {
	t.Helper()
	if got.Before(from.Truncate(time.Microsecond)) || got.After(to) {
		t.Errorf("%s = %v, want between %v and %v", what, got, from, to)
	}
}

func ptr[T any](v T) *T { return &v }

// otherCode returns a valid member code that no member holds.
func otherCode(t *testing.T, w *world) string {
	t.Helper()
	for {
		c := loyalty.NewMemberCode()
		if lt.Count(t, w.db, `SELECT count(*) FROM members WHERE member_code = $1`, c) == 0 {
			return c
		}
	}
}

// --- registerMember ---------------------------------------------------------------------------

func TestRegisterMemberCreatesTheCallersRowAndIgnoresIDsInTheInput(t *testing.T) {
	w := newWorld(t)
	me := uuid.NewString()
	other, _ := lt.Member(t, w.db)
	otherBefore := w.memberRow(t, other)

	// The input names another member three ways; the caller is x-hasura-user-id all the same.
	first := call[loyalty.RegisterMemberOutput](t, w, "registerMember", in{
		"displayName": " Aiko ", "email": "aiko@example.com", "phone": "+81 90 0000 0000", "birthday": "1990-04-01",
		"memberId": other, "userId": other, "id": other,
	}, member(me))
	if !first.Created || first.MemberID != me || !loyalty.ValidMemberCode(first.MemberCode) || first.TierID != "member" || first.PointsBalance != 0 {
		t.Fatalf("register = %+v; want a new member %s at tier member with 0 points", first, me)
	}
	var name, email, birthday string
	err := w.db.QueryRow(context.Background(), `SELECT display_name, email, birthday::text FROM members WHERE id = $1`, me).Scan(&name, &email, &birthday)
	if err != nil {
		t.Fatal(err)
	}
	if name != "Aiko" || email != "aiko@example.com" || birthday != "1990-04-01" {
		t.Errorf("stored %q %q %q", name, email, birthday)
	}
	if got := w.memberRow(t, other); got != otherBefore {
		t.Errorf("the member named in the input changed:\n%s\n%s", otherBefore, got)
	}

	t.Run("registering again answers the same member with created false and changes nothing", func(t *testing.T) {
		before := w.fingerprint(t)
		again := call[loyalty.RegisterMemberOutput](t, w, "registerMember", in{"displayName": "Someone else"}, member(me))
		if again.Created || again.MemberID != me || again.MemberCode != first.MemberCode || again.TierID != "member" {
			t.Fatalf("second register = %+v; want the first member with created false", again)
		}
		w.unchanged(t, before)
	})
}

func TestRegisterMemberRefusals(t *testing.T) {
	w := newWorld(t)
	deleted, _ := lt.Member(t, w.db)
	lt.Exec(t, w.db, `UPDATE members SET deleted_at = now() WHERE id = $1`, deleted)
	fresh := func() map[string]string { return member(uuid.NewString()) }
	w.refuseAll(t, "registerMember", []refusal{
		{"an anonymous caller is forbidden", in{"displayName": "Anon"}, anonymous, loyalty.CodeForbidden},
		{"a staff caller is forbidden", in{"displayName": "Crew"}, staff(w.crew), loyalty.CodeForbidden},
		{"an admin is forbidden, having no member id", in{"displayName": "Admin"}, admin, loyalty.CodeForbidden},
		{"an admin session naming a user id is still forbidden", in{"displayName": "Admin"}, hasuratest.Session("admin", uuid.NewString()), loyalty.CodeForbidden},
		{"a member session without a user id is forbidden", in{"displayName": "Nobody"}, hasuratest.Session("member", ""), loyalty.CodeForbidden},
		{"a member session whose user id is not a uuid is forbidden", in{"displayName": "Nobody"}, member("not-a-uuid"), loyalty.CodeForbidden},
		{"a deleted account may not register again", in{"displayName": "Back again"}, member(deleted), loyalty.CodeForbidden},
		{"a blank display name is invalid", in{"displayName": "   "}, fresh(), loyalty.CodeInvalidInput},
		{"a missing display name is invalid", in{"email": "a@example.com"}, fresh(), loyalty.CodeInvalidInput},
		{"a display name of 101 characters is invalid", in{"displayName": strings.Repeat("a", 101)}, fresh(), loyalty.CodeInvalidInput},
		{"an email that is not an address is invalid", in{"displayName": "A", "email": "not an address"}, fresh(), loyalty.CodeInvalidInput},
		{"a birthday in the future is invalid", in{"displayName": "A", "birthday": time.Now().AddDate(1, 0, 0).Format(time.DateOnly)}, fresh(), loyalty.CodeInvalidInput},
		{"a birthday that is no date is invalid", in{"displayName": "A", "birthday": "1990-02-30"}, fresh(), loyalty.CodeInvalidInput},
		{"a display name that is a number is invalid", in{"displayName": 42}, fresh(), loyalty.CodeInvalidInput},
		{"a session without a role is invalid", in{"displayName": "A"}, hasuratest.Session("", uuid.NewString()), loyalty.CodeInvalidInput},
		{"a null input is invalid", nil, fresh(), loyalty.CodeInvalidInput},
	})
}

// --- earnPoints -------------------------------------------------------------------------------

func TestEarnPointsCreditsAReceiptOnce(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)

	first := w.earn(t, staff(w.crew), w.store, "R-1", 1250, code)
	if first.MemberID != id || first.PointsEarned != 12 || first.PointsBalance != 12 || first.TierID != "member" || first.Duplicate {
		t.Fatalf("earn of 1250 = %+v; want 12 points for %s", first, id)
	}
	if _, err := uuid.Parse(first.TransactionID); err != nil {
		t.Errorf("transactionId %q is not a uuid", first.TransactionID)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM orders WHERE store_id = $1 AND receipt_no = 'R-1' AND member_id = $2 AND amount = 1250 AND status = 'paid'`, w.store, id); n != 1 {
		t.Errorf("%d matching orders recorded, want 1", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_lots WHERE member_id = $1 AND remaining = 12`, id); n != 1 {
		t.Errorf("%d lots of 12 opened, want 1", n)
	}

	t.Run("the same receipt and amount again answers the first result as a duplicate and changes nothing", func(t *testing.T) {
		before := w.fingerprint(t)
		again := w.earn(t, staff(w.crew), w.store, "R-1", 1250, code)
		if want := first; !reflect.DeepEqual(again, loyalty.EarnPointsOutput{TransactionID: want.TransactionID, MemberID: id, PointsEarned: 12, PointsBalance: 12, TierID: "member", Duplicate: true, CampaignIDs: []string{}}) {
			t.Fatalf("repeat = %+v; want %+v marked duplicate", again, want)
		}
		w.unchanged(t, before)
	})
	t.Run("a manager of the store earns like crew", func(t *testing.T) {
		out := w.earn(t, staff(w.manager), w.store, "R-2", 300, code)
		if out.PointsEarned != 3 || out.PointsBalance != 15 {
			t.Fatalf("earn = %+v; want 3 points, balance 15", out)
		}
	})
	t.Run("an admin earns at a store where they hold no staff row", func(t *testing.T) {
		out := w.earn(t, admin, w.otherStore, "R-1", 1000, code)
		if out.PointsEarned != 10 || out.PointsBalance != 25 || out.Duplicate {
			t.Fatalf("earn = %+v; want 10 points, balance 25 (receipt numbers are per store)", out)
		}
	})
	t.Run("an earn that reaches silver answers the new tier", func(t *testing.T) {
		out := w.earn(t, staff(w.crew), w.store, "BIG", 100_000, code)
		if out.PointsEarned != 1000 || out.PointsBalance != 1025 || out.TierID != "silver" {
			t.Fatalf("earn = %+v; want 1000 points and tier silver", out)
		}
	})
	if b := lt.Balance(t, w.db, id); b != 1025 {
		t.Errorf("balance %d, want 1025", b)
	}
}

func TestEarnPointsRefusals(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	_, otherMemberCode := lt.Member(t, w.db)
	goneID, goneCode := lt.Member(t, w.db)
	lt.Exec(t, w.db, `UPDATE members SET deleted_at = now() WHERE id = $1`, goneID)
	w.earn(t, staff(w.crew), w.store, "R-1", 1000, code)
	unknown := otherCode(t, w)
	wrongCheck := code[:9] + string(rune('0'+(code[9]-'0'+1)%10))
	earn := func(store, receipt string, amount any, memberCode string) in {
		return in{"storeId": store, "receiptNo": receipt, "amount": amount, "memberCode": memberCode}
	}
	ok := earn(w.store, "R-NEW", 1000, code)
	withStoreVar := staff(w.otherManager)
	withStoreVar["x-hasura-store-id"] = w.store

	w.refuseAll(t, "earnPoints", []refusal{
		// Roles.
		{"an anonymous caller is forbidden", ok, anonymous, loyalty.CodeForbidden},
		{"a member crediting their own receipt is forbidden", ok, member(id), loyalty.CodeForbidden},
		{"a manager of another store naming this store is forbidden", ok, staff(w.otherManager), loyalty.CodeForbidden},
		{"a session variable naming this store opens nothing for staff of another store", ok, withStoreVar, loyalty.CodeForbidden},
		{"crew whose staff row is inactive is forbidden", ok, staff(w.inactiveCrew), loyalty.CodeForbidden},
		{"a manager whose staff row is inactive is forbidden", ok, staff(w.inactiveManager), loyalty.CodeForbidden},
		{"staff of a closed store are forbidden there", earn(w.closedStore, "R-NEW", 1000, code), staff(w.closedManager), loyalty.CodeForbidden},
		{"staff naming a store that does not exist are forbidden", earn(uuid.NewString(), "R-NEW", 1000, code), staff(w.crew), loyalty.CodeForbidden},
		{"a staff session without a user id is forbidden", ok, hasuratest.Session("staff", ""), loyalty.CodeForbidden},
		{"an unknown role is forbidden", ok, hasuratest.Session("manager", w.manager), loyalty.CodeForbidden},
		{"an admin naming a store that does not exist is told it is not found", earn(uuid.NewString(), "R-NEW", 1000, code), admin, loyalty.CodeNotFound},
		// Business refusals.
		{"the same receipt with another amount is a receipt conflict", earn(w.store, "R-1", 999, code), staff(w.crew), loyalty.CodeReceiptConflict},
		{"the same receipt for another member is a receipt conflict", earn(w.store, "R-1", 1000, otherMemberCode), staff(w.crew), loyalty.CodeReceiptConflict},
		{"an order above max_order_amount is over the limit", earn(w.store, "R-BIG", 1_000_001, code), staff(w.crew), loyalty.CodeOrderOverLimit},
		{"a member code nobody holds is not found", earn(w.store, "R-NEW", 1000, unknown), staff(w.crew), loyalty.CodeNotFound},
		{"a deleted member's code is not found", earn(w.store, "R-NEW", 1000, goneCode), staff(w.crew), loyalty.CodeNotFound},
		{"a QR token while no QR key is configured is qr_invalid", in{"storeId": w.store, "receiptNo": "R-QR", "amount": 1000, "memberQrToken": "a.b.c"}, staff(w.crew), loyalty.CodeQRInvalid},
		// Malformed input.
		{"both a QR token and a member code are invalid", in{"storeId": w.store, "receiptNo": "R-NEW", "amount": 1000, "memberQrToken": "a.b.c", "memberCode": code}, staff(w.crew), loyalty.CodeInvalidInput},
		{"neither a QR token nor a member code is invalid", in{"storeId": w.store, "receiptNo": "R-NEW", "amount": 1000}, staff(w.crew), loyalty.CodeInvalidInput},
		{"a zero amount is invalid", earn(w.store, "R-NEW", 0, code), staff(w.crew), loyalty.CodeInvalidInput},
		{"a negative amount is invalid", earn(w.store, "R-NEW", -100, code), staff(w.crew), loyalty.CodeInvalidInput},
		{"an amount in a string is invalid", earn(w.store, "R-NEW", "1000", code), staff(w.crew), loyalty.CodeInvalidInput},
		{"an amount with a fraction is invalid", earn(w.store, "R-NEW", 10.5, code), staff(w.crew), loyalty.CodeInvalidInput},
		{"a store id that is not a uuid is invalid", earn("shibuya", "R-NEW", 1000, code), staff(w.crew), loyalty.CodeInvalidInput},
		{"a missing receipt number is invalid", in{"storeId": w.store, "amount": 1000, "memberCode": code}, staff(w.crew), loyalty.CodeInvalidInput},
		{"a receipt number of 65 characters is invalid", earn(w.store, strings.Repeat("9", 65), 1000, code), staff(w.crew), loyalty.CodeInvalidInput},
		{"a member code with a wrong check digit is invalid", earn(w.store, "R-NEW", 1000, wrongCheck), staff(w.crew), loyalty.CodeInvalidInput},
		{"a null input is invalid", nil, staff(w.crew), loyalty.CodeInvalidInput},
	})
	if b := lt.Balance(t, w.db, id); b != 10 {
		t.Errorf("balance %d after refusals, want the 10 of R-1", b)
	}
}

func TestEarnPointsByMemberQRToken(t *testing.T) {
	tokens, err := memberqr.New("a member QR key of at least 32 characters")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := memberqr.New("another key, of another deployment entirely")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, loyalty.WithQRTokens(tokens))
	id, _ := lt.Member(t, w.db)
	gone, _ := lt.Member(t, w.db)
	lt.Exec(t, w.db, `UPDATE members SET deleted_at = now() WHERE id = $1`, gone)
	now := time.Now()
	issue := func(q *memberqr.Tokens, member string, issued, expires time.Time) string {
		t.Helper()
		tok, err := q.IssueMemberQR(member, issued, expires)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := issue(tokens, id, now, now.Add(2*time.Minute))
	earn := func(receipt, token string) in {
		return in{"storeId": w.store, "receiptNo": receipt, "amount": 2000, "memberQrToken": token}
	}

	out := call[loyalty.EarnPointsOutput](t, w, "earnPoints", earn("Q-1", good), staff(w.crew))
	if out.MemberID != id || out.PointsEarned != 20 || out.PointsBalance != 20 || out.Duplicate {
		t.Fatalf("earn by QR = %+v; want 20 points for %s", out, id)
	}
	// The counter's retry of the same receipt with the same token is the same earn.
	again := call[loyalty.EarnPointsOutput](t, w, "earnPoints", earn("Q-1", good), staff(w.crew))
	if !again.Duplicate || again.TransactionID != out.TransactionID || again.PointsEarned != 20 {
		t.Fatalf("retry with the same token = %+v; want the first result, duplicate", again)
	}
	w.refuseAll(t, "earnPoints", []refusal{
		{"the same token on another receipt is qr_invalid", earn("Q-2", good), staff(w.crew), loyalty.CodeQRInvalid},
		{"an expired QR token is qr_expired", earn("Q-2", issue(tokens, id, now.Add(-5*time.Minute), now.Add(-time.Minute))), staff(w.crew), loyalty.CodeQRExpired},
		{"a token signed with another key is qr_invalid", earn("Q-2", issue(otherKey, id, now, now.Add(2*time.Minute))), staff(w.crew), loyalty.CodeQRInvalid},
		{"a token that is no token at all is qr_invalid", earn("Q-2", "not.a.token"), staff(w.crew), loyalty.CodeQRInvalid},
		{"a valid token of a deleted member is not found", earn("Q-2", issue(tokens, gone, now, now.Add(2*time.Minute))), staff(w.crew), loyalty.CodeNotFound},
		{"a valid token does not let staff of another store in", earn("Q-2", good), staff(w.otherManager), loyalty.CodeForbidden},
		{"a valid token does not let the member credit themselves", earn("Q-2", good), member(id), loyalty.CodeForbidden},
	})
}

// --- redeemReward -----------------------------------------------------------------------------

var couponCode = regexp.MustCompile(`^[` + loyalty.CouponAlphabet + `]{8}$`)

func TestRedeemRewardSpendsTheCallersPointsWhateverMemberTheInputNames(t *testing.T) {
	w := newWorld(t)
	me, _ := lt.Member(t, w.db)
	rich, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, me, 500)
	lt.Give(t, w.svc, rich, 10_000)
	richBefore := w.memberRow(t, rich)
	three := 3
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 120, Stock: &three, ValidDays: 14})

	from := time.Now()
	first := call[loyalty.RedeemRewardOutput](t, w, "redeemReward",
		in{"rewardId": reward, "idempotencyKey": "k1", "memberId": rich, "userId": rich}, member(me))
	to := time.Now()
	if first.PointsSpent != 120 || first.PointsBalance != 380 || !couponCode.MatchString(first.CouponCode) {
		t.Fatalf("redeem = %+v; want 120 spent, 380 left and an 8-character code", first)
	}
	between(t, "expiresAt", first.ExpiresAt, from.AddDate(0, 0, 14), to.AddDate(0, 0, 14))
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE id = $1 AND code = $2 AND member_id = $3 AND reward_id = $4 AND status = 'issued'`,
		first.CouponID, first.CouponCode, me, reward); n != 1 {
		t.Errorf("the coupon is not the caller's issued coupon")
	}
	if n := lt.Count(t, w.db, `SELECT stock FROM rewards WHERE id = $1`, reward); n != 2 {
		t.Errorf("stock %d, want 2", n)
	}
	if b := lt.Balance(t, w.db, me); b != 380 {
		t.Errorf("the caller's balance is %d, want 380", b)
	}
	if got := w.memberRow(t, rich); got != richBefore {
		t.Errorf("the member named in the input changed:\n%s\n%s", richBefore, got)
	}

	t.Run("the same idempotency key again answers the first coupon and changes nothing", func(t *testing.T) {
		before := w.fingerprint(t)
		again := call[loyalty.RedeemRewardOutput](t, w, "redeemReward", in{"rewardId": reward, "idempotencyKey": "k1"}, member(me))
		if !again.ExpiresAt.Equal(first.ExpiresAt) || again.CouponID != first.CouponID || again.CouponCode != first.CouponCode ||
			again.PointsSpent != first.PointsSpent || again.PointsBalance != first.PointsBalance {
			t.Fatalf("repeat = %+v; want the first %+v", again, first)
		}
		w.unchanged(t, before)
	})
	t.Run("another member's use of the same key is their own redemption", func(t *testing.T) {
		out := call[loyalty.RedeemRewardOutput](t, w, "redeemReward", in{"rewardId": reward, "idempotencyKey": "k1"}, member(rich))
		if out.CouponID == first.CouponID || out.PointsBalance != 10_000-120 {
			t.Fatalf("redeem = %+v; want a coupon of their own and 9880 left", out)
		}
		if b := lt.Balance(t, w.db, me); b != 380 {
			t.Errorf("the first member's balance moved to %d", b)
		}
	})
}

func TestRedeemRewardRefusals(t *testing.T) {
	w := newWorld(t)
	me, _ := lt.Member(t, w.db)
	rich, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, me, 500)
	lt.Give(t, w.svc, rich, 100_000)
	unregistered := uuid.NewString()
	gone, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, gone, 500)
	lt.Exec(t, w.db, `UPDATE members SET deleted_at = now() WHERE id = $1`, gone)
	one, zero := 1, 0
	plain := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})
	limited := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, PerMemberLimit: &one})
	w.redeem(t, me, limited)
	inactive := lt.Reward(t, w.db, lt.RewardSpec{})
	lt.Exec(t, w.db, `UPDATE rewards SET active = false WHERE id = $1`, inactive)
	future := lt.Reward(t, w.db, lt.RewardSpec{})
	lt.Exec(t, w.db, `UPDATE rewards SET active_from = now() + interval '1 hour' WHERE id = $1`, future)
	ended := lt.Reward(t, w.db, lt.RewardSpec{})
	lt.Exec(t, w.db, `UPDATE rewards SET active_to = now() - interval '1 second' WHERE id = $1`, ended)
	silverOnly := lt.Reward(t, w.db, lt.RewardSpec{MinTierRank: 1})
	dear := lt.Reward(t, w.db, lt.RewardSpec{Cost: 491})
	soldOut := lt.Reward(t, w.db, lt.RewardSpec{Stock: &zero})
	// Key "used" belongs to a redemption of plain; the balance is 480 afterwards.
	call[loyalty.RedeemRewardOutput](t, w, "redeemReward", in{"rewardId": plain, "idempotencyKey": "used"}, member(me))
	r := func(reward string) in { return in{"rewardId": reward, "idempotencyKey": uuid.NewString()} }

	w.refuseAll(t, "redeemReward", []refusal{
		{"an anonymous caller is forbidden", r(plain), anonymous, loyalty.CodeForbidden},
		{"a staff caller is forbidden", r(plain), staff(w.manager), loyalty.CodeForbidden},
		{"an admin is forbidden, redeeming being a member's own act", r(plain), admin, loyalty.CodeForbidden},
		{"an admin naming a member in the input is still forbidden", in{"rewardId": plain, "idempotencyKey": "x", "memberId": me}, admin, loyalty.CodeForbidden},
		{"a member session without a user id is forbidden", r(plain), hasuratest.Session("member", ""), loyalty.CodeForbidden},
		{"a caller who never registered is not registered", r(plain), member(unregistered), loyalty.CodeNotRegistered},
		{"a deleted member is not registered", r(plain), member(gone), loyalty.CodeNotRegistered},
		{"a reward that does not exist is not found", r(uuid.NewString()), member(me), loyalty.CodeNotFound},
		{"an inactive reward is unavailable", r(inactive), member(me), loyalty.CodeRewardUnavailable},
		{"a reward before its window is unavailable", r(future), member(me), loyalty.CodeRewardUnavailable},
		{"a reward after its window is unavailable", r(ended), member(me), loyalty.CodeRewardUnavailable},
		{"a reward for a higher tier is refused as tier too low", r(silverOnly), member(me), loyalty.CodeTierTooLow},
		{"a reward whose per-member limit is reached is refused", r(limited), member(me), loyalty.CodeLimitReached},
		{"a reward costing more than the balance is insufficient points", r(dear), member(me), loyalty.CodeInsufficientPoints},
		{"naming a richer member in the input buys nothing with their points",
			in{"rewardId": dear, "idempotencyKey": "spoof", "memberId": rich, "userId": rich}, member(me), loyalty.CodeInsufficientPoints},
		{"a reward out of stock is refused", r(soldOut), member(me), loyalty.CodeOutOfStock},
		{"a missing reward id is invalid", in{"idempotencyKey": "x"}, member(me), loyalty.CodeInvalidInput},
		{"a reward id that is not a uuid is invalid", in{"rewardId": "coffee", "idempotencyKey": "x"}, member(me), loyalty.CodeInvalidInput},
		{"a missing idempotency key is invalid", in{"rewardId": plain}, member(me), loyalty.CodeInvalidInput},
		{"an idempotency key of 201 characters is invalid", in{"rewardId": plain, "idempotencyKey": strings.Repeat("k", 201)}, member(me), loyalty.CodeInvalidInput},
		{"an idempotency key already used for another reward is invalid", in{"rewardId": limited, "idempotencyKey": "used"}, member(me), loyalty.CodeInvalidInput},
	})
	if b := lt.Balance(t, w.db, me); b != 480 {
		t.Errorf("balance %d after refusals, want 480", b)
	}
	if b := lt.Balance(t, w.db, rich); b != 100_000 {
		t.Errorf("the richer member's balance is %d, want it untouched", b)
	}
}

// --- useCoupon --------------------------------------------------------------------------------

func TestUseCouponMarksTheCouponUsedAtTheStore(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 1000)
	anywhere := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})
	onlyHere := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, StoreID: &w.store})
	lt.Exec(t, w.db, `UPDATE rewards SET name = 'Free coffee (here only)' WHERE id = $1`, onlyHere)

	cases := []struct {
		name    string
		reward  string
		rewardN string
		store   string
		session map[string]string
		typed   func(code string) string
	}{
		{"crew uses a coupon typed in lower case with a dash", anywhere, "Test reward", w.store, staff(w.crew),
			func(c string) string { return strings.ToLower(c[:4] + "-" + c[4:]) }},
		{"a manager uses a coupon", anywhere, "Test reward", w.store, staff(w.manager), func(c string) string { return c }},
		{"an admin uses a coupon at a store where they hold no staff row", anywhere, "Test reward", w.otherStore, admin, func(c string) string { return c }},
		{"crew honour a coupon of a reward only their store honours", onlyHere, "Free coffee (here only)", w.store, staff(w.crew), func(c string) string { return c }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			coupon := w.redeem(t, id, c.reward)
			from := time.Now()
			out := call[loyalty.UseCouponOutput](t, w, "useCoupon", in{"storeId": c.store, "couponCode": c.typed(coupon.CouponCode)}, c.session)
			to := time.Now()
			if out.CouponID != coupon.CouponID || out.RewardID != c.reward || out.RewardName != c.rewardN || out.MemberID != id {
				t.Fatalf("use = %+v; want coupon %s of reward %s (%s) for %s", out, coupon.CouponID, c.reward, c.rewardN, id)
			}
			between(t, "usedAt", out.UsedAt, from, to)
			var status, usedStore string
			var usedAt time.Time
			err := w.db.QueryRow(context.Background(), `SELECT status, used_store_id::text, used_at FROM coupons WHERE id = $1`, coupon.CouponID).Scan(&status, &usedStore, &usedAt)
			if err != nil {
				t.Fatal(err)
			}
			if status != "used" || usedStore != c.store || !usedAt.Equal(out.UsedAt) {
				t.Errorf("coupon row: %s at %s on %v; want used at %s on %v", status, usedStore, usedAt, c.store, out.UsedAt)
			}
		})
	}
	if b := lt.Balance(t, w.db, id); b != 1000-4*10 {
		t.Errorf("balance %d: using a coupon must not move points", b)
	}
}

func TestUseCouponRefusals(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 1000)
	anywhere := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})
	onlyHere := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, StoreID: &w.store})
	live := w.redeem(t, id, anywhere).CouponCode
	used := w.redeem(t, id, anywhere).CouponCode
	call[loyalty.UseCouponOutput](t, w, "useCoupon", in{"storeId": w.store, "couponCode": used}, staff(w.crew))
	late := w.redeem(t, id, anywhere).CouponCode
	lt.Exec(t, w.db, `UPDATE coupons SET issued_at = now() - interval '31 days', expires_at = now() - interval '1 day' WHERE code = $1`, late)
	markedExpired := w.redeem(t, id, anywhere).CouponCode
	lt.Exec(t, w.db, `UPDATE coupons SET status = 'expired' WHERE code = $1`, markedExpired)
	cancelled := w.redeem(t, id, anywhere).CouponCode
	lt.Exec(t, w.db, `UPDATE coupons SET status = 'cancelled' WHERE code = $1`, cancelled)
	here := w.redeem(t, id, onlyHere).CouponCode
	use := func(store, code string) in { return in{"storeId": store, "couponCode": code} }

	w.refuseAll(t, "useCoupon", []refusal{
		{"an anonymous caller is forbidden", use(w.store, live), anonymous, loyalty.CodeForbidden},
		{"the member who owns the coupon may not mark it used", use(w.store, live), member(id), loyalty.CodeForbidden},
		{"a manager of another store naming this store is forbidden", use(w.store, live), staff(w.otherManager), loyalty.CodeForbidden},
		{"crew whose staff row is inactive is forbidden", use(w.store, live), staff(w.inactiveCrew), loyalty.CodeForbidden},
		{"staff of a closed store are forbidden there", use(w.closedStore, live), staff(w.closedManager), loyalty.CodeForbidden},
		{"an admin naming a store that does not exist is told it is not found", use(uuid.NewString(), live), admin, loyalty.CodeNotFound},
		{"a coupon used before is refused as used", use(w.store, used), staff(w.crew), loyalty.CodeCouponUsed},
		{"a coupon past its expiry is expired", use(w.store, late), staff(w.crew), loyalty.CodeCouponExpired},
		{"a coupon the expiry job marked expired is expired", use(w.store, markedExpired), staff(w.crew), loyalty.CodeCouponExpired},
		{"a cancelled coupon is refused as expired", use(w.store, cancelled), staff(w.crew), loyalty.CodeCouponExpired},
		{"a coupon only this store honours is refused at another store", use(w.otherStore, here), staff(w.otherManager), loyalty.CodeCouponWrongStore},
		{"even an admin may not use it at another store", use(w.otherStore, here), admin, loyalty.CodeCouponWrongStore},
		{"a code that matches no coupon is not found", use(w.store, "ZZZZZZZZ"), staff(w.crew), loyalty.CodeNotFound},
		{"a missing coupon code is invalid", in{"storeId": w.store}, staff(w.crew), loyalty.CodeInvalidInput},
		{"a coupon code of 9 characters is invalid", use(w.store, live+"Z"), staff(w.crew), loyalty.CodeInvalidInput},
		{"a store id that is not a uuid is invalid", use("shibuya", live), staff(w.crew), loyalty.CodeInvalidInput},
		{"a missing store id is invalid", in{"couponCode": live}, staff(w.crew), loyalty.CodeInvalidInput},
	})
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE status = 'used'`); n != 1 {
		t.Errorf("%d coupons used, want only the one used in the setup", n)
	}
}

// --- refundOrder ------------------------------------------------------------------------------

func TestRefundOrderReversesThePointsTheOrderEarned(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	w.earn(t, staff(w.crew), w.store, "FULL", 1500, code) // 15
	w.earn(t, staff(w.crew), w.store, "PART", 1500, code) // 15; balance 30
	refund := func(t *testing.T, session map[string]string, store, receipt string, amount *int64) loyalty.RefundOrderOutput {
		t.Helper()
		input := in{"storeId": store, "receiptNo": receipt, "reason": "customer returned it"}
		if amount != nil {
			input["amount"] = *amount
		}
		return call[loyalty.RefundOrderOutput](t, w, "refundOrder", input, session)
	}

	t.Run("a manager's full refund reverses everything the order earned", func(t *testing.T) {
		out := refund(t, staff(w.manager), w.store, "FULL", nil)
		if out.TransactionID == nil || out.PointsReversed != 15 || out.PointsBalance == nil || *out.PointsBalance != 15 {
			t.Fatalf("full refund = %+v; want 15 reversed, balance 15", out)
		}
		if n := lt.Count(t, w.db, `SELECT count(*) FROM orders WHERE receipt_no = 'FULL' AND status = 'refunded' AND refunded_amount = 1500`); n != 1 {
			t.Errorf("the order is not marked refunded")
		}
		if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE id = $1 AND kind = 'refund' AND points = -15 AND reason = 'customer returned it'`, *out.TransactionID); n != 1 {
			t.Errorf("no refund entry %s of -15 with the reason", *out.TransactionID)
		}
	})
	t.Run("a repeated full refund reverses nothing more and changes nothing", func(t *testing.T) {
		before := w.fingerprint(t)
		out := refund(t, staff(w.manager), w.store, "FULL", nil)
		if out.TransactionID != nil || out.PointsReversed != 0 || out.PointsBalance == nil || *out.PointsBalance != 15 {
			t.Fatalf("repeat = %+v; want nothing reversed, balance 15", out)
		}
		w.unchanged(t, before)
	})
	t.Run("partial refunds reverse in proportion and never more than earned", func(t *testing.T) {
		for _, step := range []struct{ amount, reversed, balance int64 }{{500, 5, 10}, {499, 4, 6}, {501, 6, 0}} {
			out := refund(t, staff(w.manager), w.store, "PART", &step.amount)
			if out.PointsReversed != step.reversed || out.PointsBalance == nil || *out.PointsBalance != step.balance {
				t.Fatalf("refund of %d = %+v; want %d reversed, balance %d", step.amount, out, step.reversed, step.balance)
			}
		}
		if n := lt.Count(t, w.db, `SELECT count(*) FROM orders WHERE receipt_no = 'PART' AND status = 'refunded' AND refunded_amount = 1500`); n != 1 {
			t.Errorf("three parts summing to the order did not refund it fully")
		}
	})
	t.Run("a partial refund that rounds to nothing records the refund but reverses no points", func(t *testing.T) {
		w.earn(t, staff(w.crew), w.store, "TINY", 1500, code) // balance 15
		out := refund(t, staff(w.manager), w.store, "TINY", ptr(int64(99)))
		if out.TransactionID != nil || out.PointsReversed != 0 || out.PointsBalance == nil || *out.PointsBalance != 15 {
			t.Fatalf("refund of 99 of 1500 = %+v; want nothing reversed yet", out)
		}
		if n := lt.Count(t, w.db, `SELECT refunded_amount FROM orders WHERE receipt_no = 'TINY'`); n != 99 {
			t.Errorf("refunded_amount %d, want 99", n)
		}
	})
	t.Run("an admin refunds at a store where they hold no staff row", func(t *testing.T) {
		w.earn(t, admin, w.otherStore, "ELSEWHERE", 2000, code) // balance 35
		out := refund(t, admin, w.otherStore, "ELSEWHERE", nil)
		if out.PointsReversed != 20 || out.PointsBalance == nil || *out.PointsBalance != 15 {
			t.Fatalf("admin refund = %+v; want 20 reversed, balance 15", out)
		}
	})
	t.Run("an order without a member refunds with no transaction and no balance", func(t *testing.T) {
		lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, amount) VALUES ($1, 'ANON', 5000)`, w.store)
		out := refund(t, staff(w.manager), w.store, "ANON", nil)
		if out.TransactionID != nil || out.PointsReversed != 0 || out.PointsBalance != nil {
			t.Fatalf("refund = %+v; want no transaction and a null balance", out)
		}
	})
	t.Run("refunding points already spent takes the balance below zero", func(t *testing.T) {
		spender, spenderCode := lt.Member(t, w.db)
		w.earn(t, staff(w.crew), w.store, "SPENT", 10_000, spenderCode)
		w.redeem(t, spender, lt.Reward(t, w.db, lt.RewardSpec{Cost: 100}))
		out := refund(t, staff(w.manager), w.store, "SPENT", nil)
		if out.PointsReversed != 100 || out.PointsBalance == nil || *out.PointsBalance != -100 {
			t.Fatalf("refund of spent points = %+v; want balance -100", out)
		}
	})
	if b := lt.Balance(t, w.db, id); b != 15 {
		t.Errorf("balance %d, want 15", b)
	}
}

func TestRefundOrderRefusals(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	w.earn(t, staff(w.crew), w.store, "KEEP", 1500, code)
	w.earn(t, staff(w.crew), w.store, "DONE", 1000, code)
	call[loyalty.RefundOrderOutput](t, w, "refundOrder", in{"storeId": w.store, "receiptNo": "DONE"}, staff(w.manager))
	w.earn(t, admin, w.otherStore, "THERE", 1000, code)
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, amount, status) VALUES ($1, 'UNPAID', 1000, 'pending')`, w.store)
	keep := in{"storeId": w.store, "receiptNo": "KEEP"}
	with := func(receipt string, amount any) in {
		return in{"storeId": w.store, "receiptNo": receipt, "amount": amount}
	}

	w.refuseAll(t, "refundOrder", []refusal{
		{"crew may not refund", keep, staff(w.crew), loyalty.CodeForbidden},
		{"crew may not refund a part either", with("KEEP", 100), staff(w.crew), loyalty.CodeForbidden},
		{"an anonymous caller is forbidden", keep, anonymous, loyalty.CodeForbidden},
		{"the member who earned the points may not refund", keep, member(id), loyalty.CodeForbidden},
		{"a manager of another store naming this store is forbidden", keep, staff(w.otherManager), loyalty.CodeForbidden},
		{"a manager whose staff row is inactive is forbidden", keep, staff(w.inactiveManager), loyalty.CodeForbidden},
		{"a manager of a closed store is forbidden there", in{"storeId": w.closedStore, "receiptNo": "KEEP"}, staff(w.closedManager), loyalty.CodeForbidden},
		{"staff naming a store that does not exist are forbidden", in{"storeId": uuid.NewString(), "receiptNo": "KEEP"}, staff(w.manager), loyalty.CodeForbidden},
		{"an admin naming a store that does not exist is told it is not found", in{"storeId": uuid.NewString(), "receiptNo": "KEEP"}, admin, loyalty.CodeNotFound},
		{"an unknown receipt is not found", in{"storeId": w.store, "receiptNo": "NOPE"}, staff(w.manager), loyalty.CodeNotFound},
		{"a receipt of another store is not found at this one", in{"storeId": w.store, "receiptNo": "THERE"}, staff(w.manager), loyalty.CodeNotFound},
		{"a refund of more than the order is invalid", with("KEEP", 1501), staff(w.manager), loyalty.CodeInvalidInput},
		{"a negative amount is invalid", with("KEEP", -5), staff(w.manager), loyalty.CodeInvalidInput},
		{"a zero amount is invalid", with("KEEP", 0), staff(w.manager), loyalty.CodeInvalidInput},
		{"a part of an order already refunded in full is invalid", with("DONE", 1), staff(w.manager), loyalty.CodeInvalidInput},
		{"an order not yet paid is invalid", in{"storeId": w.store, "receiptNo": "UNPAID"}, staff(w.manager), loyalty.CodeInvalidInput},
		{"a missing receipt number is invalid", in{"storeId": w.store}, staff(w.manager), loyalty.CodeInvalidInput},
		{"a reason of 501 characters is invalid", in{"storeId": w.store, "receiptNo": "KEEP", "reason": strings.Repeat("r", 501)}, staff(w.manager), loyalty.CodeInvalidInput},
		{"an amount in a string is invalid", with("KEEP", "100"), staff(w.manager), loyalty.CodeInvalidInput},
	})
	if b := lt.Balance(t, w.db, id); b != 15+10 {
		t.Errorf("balance %d after refusals, want 25", b)
	}
}

// --- adjustPoints -----------------------------------------------------------------------------

func TestAdjustPointsIsAnOperatorsCorrection(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	credit := in{"memberId": id, "points": 50, "reason": "goodwill", "idempotencyKey": "adj-1"}
	first := call[loyalty.AdjustPointsOutput](t, w, "adjustPoints", credit, admin)
	if first.PointsBalance != 50 {
		t.Fatalf("adjust +50 = %+v; want balance 50", first)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions t JOIN point_lots l ON l.transaction_id = t.id
		WHERE t.id = $1 AND t.kind = 'adjust' AND t.points = 50 AND t.reason = 'goodwill' AND l.remaining = 50`, first.TransactionID); n != 1 {
		t.Errorf("no adjust entry %s of 50 with a lot of 50", first.TransactionID)
	}
	t.Run("the same idempotency key again answers the first result and changes nothing", func(t *testing.T) {
		before := w.fingerprint(t)
		if again := call[loyalty.AdjustPointsOutput](t, w, "adjustPoints", credit, admin); again != first {
			t.Fatalf("repeat = %+v; want %+v", again, first)
		}
		w.unchanged(t, before)
	})
	t.Run("an admin session carrying a user id adjusts as well", func(t *testing.T) {
		out := call[loyalty.AdjustPointsOutput](t, w, "adjustPoints",
			in{"memberId": id, "points": -20, "reason": "double credit", "idempotencyKey": "adj-2"}, hasuratest.Session("admin", uuid.NewString()))
		if out.PointsBalance != 30 || out.TransactionID == first.TransactionID {
			t.Fatalf("adjust -20 = %+v; want balance 30", out)
		}
	})
	if n := lt.Count(t, w.db, `SELECT remaining FROM point_lots WHERE member_id = $1`, id); n != 30 {
		t.Errorf("the lot holds %d, want 30", n)
	}
}

func TestAdjustPointsRefusals(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 30)
	call[loyalty.AdjustPointsOutput](t, w, "adjustPoints", in{"memberId": id, "points": 5, "reason": "r", "idempotencyKey": "taken"}, admin)
	gone, _ := lt.Member(t, w.db)
	lt.Exec(t, w.db, `UPDATE members SET deleted_at = now() WHERE id = $1`, gone)
	adj := func(memberID string, points any) in {
		return in{"memberId": memberID, "points": points, "reason": "fix", "idempotencyKey": uuid.NewString()}
	}
	w.refuseAll(t, "adjustPoints", []refusal{
		{"an anonymous caller is forbidden", adj(id, 10), anonymous, loyalty.CodeForbidden},
		{"a member crediting themselves is forbidden", adj(id, 10), member(id), loyalty.CodeForbidden},
		{"a store manager is forbidden", adj(id, 10), staff(w.manager), loyalty.CodeForbidden},
		{"a member cannot claim the admin role from the input", in{"memberId": id, "points": 10, "reason": "fix", "idempotencyKey": "fake-1",
			"x-hasura-role": "admin", "role": "admin", "session_variables": map[string]string{"x-hasura-role": "admin"}}, member(id), loyalty.CodeForbidden},
		{"zero points are invalid", adj(id, 0), admin, loyalty.CodeInvalidInput},
		{"points with a fraction are invalid", adj(id, 1.5), admin, loyalty.CodeInvalidInput},
		{"a missing reason is invalid", in{"memberId": id, "points": 10, "idempotencyKey": uuid.NewString()}, admin, loyalty.CodeInvalidInput},
		{"a missing idempotency key is invalid", in{"memberId": id, "points": 10, "reason": "fix"}, admin, loyalty.CodeInvalidInput},
		{"a member id that is not a uuid is invalid", adj("member-1", 10), admin, loyalty.CodeInvalidInput},
		{"an idempotency key already used for another adjustment is invalid", in{"memberId": id, "points": 6, "reason": "r", "idempotencyKey": "taken"}, admin, loyalty.CodeInvalidInput},
		{"a member that does not exist is not found", adj(uuid.NewString(), 10), admin, loyalty.CodeNotFound},
		{"a deleted member is not found", adj(gone, 10), admin, loyalty.CodeNotFound},
		{"a debit below zero is insufficient points", adj(id, -36), admin, loyalty.CodeInsufficientPoints},
	})
	if b := lt.Balance(t, w.db, id); b != 35 {
		t.Errorf("balance %d after refusals, want 35", b)
	}
}

// TestSessionComesOnlyFromSessionVariables: whatever else a request carries, the caller is the
// session Hasura sent. Hasura drops x-hasura-* client headers before calling a handler, and
// the handler must not read them either.
func TestSessionComesOnlyFromSessionVariables(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 100)

	t.Run("x-hasura headers on the request do not make a member an admin", func(t *testing.T) {
		before := w.fingerprint(t)
		req := hasuratest.ActionRequest(t, "adjustPoints",
			map[string]any{"input": in{"memberId": id, "points": 1000, "reason": "fix", "idempotencyKey": "hdr"}}, member(id))
		req.Header.Set("X-Hasura-Role", "admin")
		req.Header.Set("X-Hasura-User-Id", uuid.NewString())
		req.Header.Set("X-Hasura-Admin-Secret", "anything")
		rec := hasuratest.Do(t, w.h, req)
		if body := hasuratest.DecodeError(t, rec); body.Extensions.Code != string(loyalty.CodeForbidden) {
			t.Fatalf("answered %d %+v; want forbidden", rec.Code, body)
		}
		w.unchanged(t, before)
	})
	t.Run("arguments beside input do not change the caller", func(t *testing.T) {
		before := w.fingerprint(t)
		req := hasuratest.ActionRequest(t, "adjustPoints", map[string]any{
			"input":             in{"memberId": id, "points": 1000, "reason": "fix", "idempotencyKey": "arg"},
			"session_variables": admin,
		}, member(id))
		rec := hasuratest.Do(t, w.h, req)
		if body := hasuratest.DecodeError(t, rec); body.Extensions.Code != string(loyalty.CodeForbidden) {
			t.Fatalf("answered %d %+v; want forbidden", rec.Code, body)
		}
		w.unchanged(t, before)
	})
	t.Run("allowed roles in the session do not widen the role in use", func(t *testing.T) {
		s := staff(w.crew)
		s["x-hasura-allowed-roles"] = `["staff","admin"]`
		s["x-hasura-default-role"] = "admin"
		w.refuse(t, "earnPoints", in{"storeId": w.otherStore, "receiptNo": "X", "amount": 1000, "memberCode": code}, s, loyalty.CodeForbidden)
	})
	t.Run("session variable names are read case-insensitively, as Hasura sends them lower-cased", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{
			"action":            map[string]string{"name": "redeemReward"},
			"input":             map[string]any{"input": in{"rewardId": uuid.NewString(), "idempotencyKey": "case"}},
			"session_variables": map[string]string{"X-Hasura-Role": "member", "X-Hasura-User-Id": id},
		})
		rec := hasuratest.Do(t, w.h, hasuratest.RawRequest(t, "/redeemReward", body))
		// The reward does not exist: reaching that check proves the member was recognised.
		if got := hasuratest.DecodeError(t, rec); got.Extensions.Code != string(loyalty.CodeNotFound) {
			t.Fatalf("answered %d %+v; want not_found for the made-up reward", rec.Code, got)
		}
	})
}

// --- the routes themselves --------------------------------------------------------------------

// actionNames are the actions the table serves now.
var actionNames = []string{"registerMember", "earnPoints", "redeemReward", "useCoupon", "refundOrder", "adjustPoints"}

func TestTheTableServesEveryHandlerOfTheContract(t *testing.T) {
	w := newWorld(t)
	kinds := map[string]routes.Kind{}
	pending := map[string]bool{}
	for _, r := range routes.Table(&hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet}, w.svc) {
		if _, dup := kinds[r.Name]; dup {
			t.Errorf("route %s is declared twice", r.Name)
		}
		kinds[r.Name], pending[r.Name] = r.Kind, r.Pending
	}
	want := map[string]routes.Kind{
		"registerMember": routes.Action, "memberCard": routes.Action, "earnPoints": routes.Action, "redeemReward": routes.Action,
		"useCoupon": routes.Action, "refundOrder": routes.Action, "adjustPoints": routes.Action, "deleteMyAccount": routes.Action,
		"member_welcome": routes.EventTrigger, "order_paid": routes.EventTrigger, "order_refunded": routes.EventTrigger,
		"point_transaction_created": routes.EventTrigger,
		"expire_points":             routes.CronTrigger, "expire_coupons": routes.CronTrigger, "birthday_bonus": routes.CronTrigger, "tier_review": routes.CronTrigger,
		"housekeeping":     routes.CronTrigger,
		"expiry_reminders": routes.CronTrigger,
	}
	if !maps.Equal(kinds, want) {
		t.Errorf("routes = %v, want %v", kinds, want)
	}
	for _, name := range actionNames {
		if pending[name] {
			t.Errorf("%s is pending; the points core serves it", name)
		}
	}
}

func TestPendingRoutesAnswer501WithTheSecretAnd401Without(t *testing.T) {
	w := newWorld(t)
	env := &hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet}
	// Every handler of the contract is built now. A synthetic pending route, declared as the
	// table declares one (Pending, served by env.NotImplemented), keeps this test from testing
	// nothing until the next handler that is declared before it is built.
	table := append(routes.Table(env, w.svc), routes.Route{Name: "notBuiltYet", Kind: routes.Action, Handler: env.NotImplemented("notBuiltYet"), Pending: true})
	w.h = routes.Mux(table, server.Health(w.db, nil))
	for _, r := range table {
		if !r.Pending {
			continue
		}
		// The request Hasura would send on that route.
		request := func(t *testing.T) *http.Request {
			switch r.Kind {
			case routes.Action:
				return hasuratest.ActionRequest(t, r.Name, map[string]any{}, member(uuid.NewString()))
			case routes.EventTrigger:
				return hasuratest.EventRequest(t, r.Name, "members", hasura.OpInsert, nil, json.RawMessage(`{"id":"`+uuid.NewString()+`"}`))
			default:
				return hasuratest.CronRequest(t, r.Name, time.Now(), nil)
			}
		}
		t.Run(r.Name+" answers 501 not_implemented to Hasura", func(t *testing.T) {
			before := w.fingerprint(t)
			rec := hasuratest.Do(t, w.h, request(t))
			body := hasuratest.DecodeError(t, rec)
			if rec.Code != http.StatusNotImplemented || body.Extensions.Code != "not_implemented" {
				t.Fatalf("answered %d %+v; want 501 not_implemented", rec.Code, body)
			}
			w.unchanged(t, before)
		})
		t.Run(r.Name+" answers 401 to a caller without the secret", func(t *testing.T) {
			req := request(t)
			req.Header.Del(hasura.SecretHeader)
			rec := hasuratest.Do(t, w.h, req)
			if body := hasuratest.DecodeError(t, rec); rec.Code != http.StatusUnauthorized || body.Extensions.Code != "unauthorized" {
				t.Fatalf("answered %d %+v; want 401 unauthorized", rec.Code, body)
			}
		})
	}
}

func TestEveryActionRefusesACallerWithoutTheSecret(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	inputs := map[string]in{
		"registerMember": {"displayName": "Intruder"},
		"earnPoints":     {"storeId": w.store, "receiptNo": "X", "amount": 1000, "memberCode": "0000000000"},
		"redeemReward":   {"rewardId": uuid.NewString(), "idempotencyKey": "x"},
		"useCoupon":      {"storeId": w.store, "couponCode": "ZZZZZZZZ"},
		"refundOrder":    {"storeId": w.store, "receiptNo": "X"},
		"adjustPoints":   {"memberId": id, "points": 1000, "reason": "free points", "idempotencyKey": "x"},
	}
	for _, name := range actionNames {
		for _, secret := range []string{"", "wrong-secret", hasuratest.Secret + "x"} {
			t.Run(fmt.Sprintf("%s with secret %q answers 401", name, secret), func(t *testing.T) {
				before := w.fingerprint(t)
				req := hasuratest.ActionRequest(t, name, map[string]any{"input": inputs[name]}, admin)
				req.Header.Set(hasura.SecretHeader, secret)
				rec := hasuratest.Do(t, w.h, req)
				if body := hasuratest.DecodeError(t, rec); rec.Code != http.StatusUnauthorized || body.Extensions.Code != "unauthorized" {
					t.Fatalf("answered %d %+v; want 401 unauthorized", rec.Code, body)
				}
				w.unchanged(t, before)
			})
		}
	}
}

func TestAnActionPostedToAnotherActionsRouteIsRefused(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 1000)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})
	cases := []struct {
		name, action, route string
		input               in
		session             map[string]string
	}{
		{"an adjustPoints body posted to /earnPoints is a 400", "adjustPoints", "/earnPoints",
			in{"memberId": id, "points": 1000, "reason": "fix", "idempotencyKey": "mis-1", "storeId": w.store, "receiptNo": "R", "amount": 1000, "memberCode": code}, admin},
		{"an earnPoints body posted to /adjustPoints is a 400", "earnPoints", "/adjustPoints",
			in{"memberId": id, "points": 1000, "reason": "fix", "idempotencyKey": "mis-2", "storeId": w.store, "receiptNo": "R", "amount": 1000, "memberCode": code}, admin},
		{"a redeemReward body posted to /registerMember is a 400", "redeemReward", "/registerMember",
			in{"rewardId": reward, "idempotencyKey": "mis-3", "displayName": "X"}, member(uuid.NewString())},
		{"a refundOrder body posted to /useCoupon is a 400", "refundOrder", "/useCoupon",
			in{"storeId": w.store, "receiptNo": "R", "couponCode": "ZZZZZZZZ"}, admin},
		{"a body naming no action is a 400", "", "/earnPoints",
			in{"storeId": w.store, "receiptNo": "R", "amount": 1000, "memberCode": code}, admin},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.fingerprint(t)
			body, err := json.Marshal(map[string]any{
				"action": map[string]string{"name": c.action}, "input": map[string]any{"input": c.input},
				"session_variables": c.session, "request_query": "mutation { " + c.action + " }"})
			if err != nil {
				t.Fatal(err)
			}
			rec := hasuratest.Do(t, w.h, hasuratest.RawRequest(t, c.route, body))
			if got := hasuratest.DecodeError(t, rec); rec.Code != http.StatusBadRequest || got.Extensions.Code != string(loyalty.CodeInvalidInput) {
				t.Fatalf("answered %d %+v; want 400 invalid_input", rec.Code, got)
			}
			w.unchanged(t, before)
		})
	}
}

func TestMalformedRequestsAreRefusedBeforeTheyReachTheDomain(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name   string
		req    func(t *testing.T) *http.Request
		status int
	}{
		{"a body that is not JSON is a 400", func(t *testing.T) *http.Request {
			return hasuratest.RawRequest(t, "/earnPoints", []byte(`{"action":`))
		}, http.StatusBadRequest},
		{"a body without session variables is a 400", func(t *testing.T) *http.Request {
			return hasuratest.ActionRequest(t, "earnPoints", map[string]any{"input": in{}}, nil)
		}, http.StatusBadRequest},
		{"a session variable that is not a string is a 400", func(t *testing.T) *http.Request {
			return hasuratest.RawRequest(t, "/adjustPoints", []byte(`{"action":{"name":"adjustPoints"},"input":{"input":{}},"session_variables":{"x-hasura-role":["admin"]}}`))
		}, http.StatusBadRequest},
		{"a GET is a 405", func(t *testing.T) *http.Request {
			req := hasuratest.ActionRequest(t, "earnPoints", map[string]any{"input": in{}}, admin)
			req.Method = http.MethodGet
			return req
		}, http.StatusMethodNotAllowed},
		{"a body over the size limit is a 413", func(t *testing.T) *http.Request {
			return hasuratest.ActionRequest(t, "registerMember", map[string]any{"input": in{"displayName": strings.Repeat("a", hasura.DefaultMaxBody)}}, member(uuid.NewString()))
		}, http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.fingerprint(t)
			rec := hasuratest.Do(t, w.h, c.req(t))
			if body := hasuratest.DecodeError(t, rec); rec.Code != c.status || body.Extensions.Code != hasura.InvalidInput {
				t.Fatalf("answered %d %+v; want %d invalid_input", rec.Code, body, c.status)
			}
			w.unchanged(t, before)
		})
	}
	t.Run("the health check answers 200 while the database is up", func(t *testing.T) {
		rec := hasuratest.Do(t, w.h, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("health answered %d: %s", rec.Code, rec.Body)
		}
	})
}

// --- defects ----------------------------------------------------------------------------------

// Hasura does not check an action's uuid or String arguments (graphql-engine#8599): whatever
// the client typed reaches the handler, and must never become a 500.
func TestCharactersPostgresCannotStoreAreRefusedAsInvalidInput(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 1000)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})
	cases := []struct {
		name, action string
		input        in
		session      map[string]string
	}{
		{"a receipt number holding a NUL character", "earnPoints", in{"storeId": w.store, "receiptNo": "R\x001", "amount": 1000, "memberCode": code}, staff(w.crew)},
		{"an idempotency key holding a NUL character", "redeemReward", in{"rewardId": reward, "idempotencyKey": "k\x00"}, member(id)},
		{"a display name holding a NUL character", "registerMember", in{"displayName": "A\x00B"}, member(uuid.NewString())},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused as invalid input", func(t *testing.T) {
			before := w.fingerprint(t)
			rec := w.do(t, c.action, c.input, c.session)
			if body := hasuratest.DecodeError(t, rec); rec.Code != http.StatusBadRequest || body.Extensions.Code != "invalid_input" {
				t.Fatalf("answered %d %+v; want 400 invalid_input", rec.Code, body)
			}
			w.unchanged(t, before)
		})
	}
}

// A uuid is read as the uuid it spells, whatever the spelling (upper case, as Swift's
// UUID().uuidString writes it, or urn:uuid:), and compared in canonical form.
func TestAUUIDIsTheSameUUIDHoweverItIsSpelt(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 1000)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})

	t.Run("a storeId written as urn:uuid credits at that store", func(t *testing.T) {
		out := call[loyalty.EarnPointsOutput](t, w, "earnPoints", in{"storeId": "urn:uuid:" + w.store, "receiptNo": "U-1", "amount": 1000, "memberCode": code}, staff(w.crew))
		if out.MemberID != id || out.PointsEarned != 10 {
			t.Fatalf("earn = %+v", out)
		}
	})
	t.Run("a rewardId written as urn:uuid redeems that reward", func(t *testing.T) {
		out := call[loyalty.RedeemRewardOutput](t, w, "redeemReward", in{"rewardId": "urn:uuid:" + reward, "idempotencyKey": "urn"}, member(id))
		if out.PointsSpent != 10 {
			t.Fatalf("redeem = %+v", out)
		}
	})
	t.Run("a member's id in upper case is the same member", func(t *testing.T) {
		first := call[loyalty.RedeemRewardOutput](t, w, "redeemReward", in{"rewardId": reward, "idempotencyKey": "case"}, member(id))
		again := call[loyalty.RedeemRewardOutput](t, w, "redeemReward", in{"rewardId": reward, "idempotencyKey": "case"}, member(strings.ToUpper(id)))
		if again.CouponID != first.CouponID {
			t.Fatalf("the same key from the upper-cased session issued coupon %s after %s", again.CouponID, first.CouponID)
		}
	})
}

// Upper-case uuids in the input are compared with what Postgres returns in canonical form.
func TestAnUpperCaseUUIDInTheInputIsTheSameUUID(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 1000)
	onlyHere := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, StoreID: &w.store})
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})

	t.Run("a coupon honoured only at this store is honoured when the storeId is in upper case", func(t *testing.T) {
		coupon := w.redeem(t, id, onlyHere)
		rec := w.do(t, "useCoupon", in{"storeId": strings.ToUpper(w.store), "couponCode": coupon.CouponCode}, staff(w.crew))
		if rec.Code != http.StatusOK {
			t.Fatalf("answered %d %s; want 200", rec.Code, strings.TrimSpace(rec.Body.String()))
		}
	})
	t.Run("an identical retry of a redemption with the rewardId in upper case answers the first coupon", func(t *testing.T) {
		input := in{"rewardId": strings.ToUpper(reward), "idempotencyKey": "upper"}
		first := call[loyalty.RedeemRewardOutput](t, w, "redeemReward", input, member(id))
		before := w.fingerprint(t)
		rec := w.do(t, "redeemReward", input, member(id))
		if rec.Code != http.StatusOK {
			t.Fatalf("the retry answered %d %s; want 200 with coupon %s", rec.Code, strings.TrimSpace(rec.Body.String()), first.CouponID)
		}
		if again := hasuratest.DecodeOutput[loyalty.RedeemRewardOutput](t, rec); again.CouponID != first.CouponID {
			t.Errorf("the retry answered coupon %s, want %s", again.CouponID, first.CouponID)
		}
		w.unchanged(t, before)
	})
	t.Run("an identical retry of an adjustment with the memberId in upper case answers the first result", func(t *testing.T) {
		input := in{"memberId": strings.ToUpper(id), "points": 5, "reason": "fix", "idempotencyKey": "upper"}
		first := call[loyalty.AdjustPointsOutput](t, w, "adjustPoints", input, admin)
		before := w.fingerprint(t)
		rec := w.do(t, "adjustPoints", input, admin)
		if rec.Code != http.StatusOK {
			t.Fatalf("the retry answered %d %s; want 200 with transaction %s", rec.Code, strings.TrimSpace(rec.Body.String()), first.TransactionID)
		}
		if again := hasuratest.DecodeOutput[loyalty.AdjustPointsOutput](t, rec); again != first {
			t.Errorf("the retry answered %+v, want %+v", again, first)
		}
		w.unchanged(t, before)
	})
}
