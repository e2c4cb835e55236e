package routes_test

// Who did what, member-code guessing, pending receipts, profile rules and deleted members'
// data in failure records, through HTTP as Hasura calls the functions.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

func TestEveryLedgerEntryAndCouponUseNamesWhoMadeIt(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	crew := w.crew.UserID
	operator := hasuratest.NewUUID()
	w.earnHTTP(code, "R-1", 10_000)
	w.refundHTTP("R-1", ptr(int64(5000)))
	act[loyalty.AdjustPointsOutput](w, "adjustPoints", in{"memberId": id, "points": 500, "reason": "goodwill", "idempotencyKey": hasuratest.NewUUID()}, hasuratest.Session("admin", operator))
	act[loyalty.AdjustPointsOutput](w, "adjustPoints", in{"memberId": id, "points": 5, "reason": "by the CLI", "idempotencyKey": hasuratest.NewUUID()}, hasuratest.Admin())
	coupon := act[loyalty.RedeemRewardOutput](w, "redeemReward", in{"rewardId": lt.Reward(t, w.db, lt.RewardSpec{Cost: 100}), "idempotencyKey": hasuratest.NewUUID()}, member(id))
	act[loyalty.UseCouponOutput](w, "useCoupon", in{"storeId": w.store, "couponCode": coupon.CouponCode}, staff(crew))
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount) VALUES ($1, 'POS-1', $2, 1000)`, w.store, id)
	w.deliverAll("order_paid")

	want := map[string]*string{"earn:R-1": &crew, "refund": &crew, "adjust:goodwill": &operator, "adjust:by the CLI": nil, "redeem": &id, "earn:POS-1": nil}
	rows, err := w.db.Query(context.Background(), `
		SELECT t.kind || coalesce(':' || o.receipt_no, '') || coalesce(':' || CASE WHEN t.kind = 'adjust' THEN t.reason END, ''), t.created_by::text
		FROM point_transactions t LEFT JOIN orders o ON o.id = t.order_id AND t.kind = 'earn'`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*string{}
	for rows.Next() {
		var what string
		var by *string
		if err := rows.Scan(&what, &by); err != nil {
			t.Fatal(err)
		}
		got[what] = by
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for what, by := range want {
		g, ok := got[what]
		switch {
		case !ok:
			t.Errorf("no %s entry", what)
		case (by == nil) != (g == nil) || (by != nil && *by != *g):
			t.Errorf("%s: created_by %v, want %v", what, deref(g), deref(by))
		}
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE id = $1 AND used_by = $2`, coupon.CouponID, crew); n != 1 {
		t.Error("the coupon use does not name the crew member")
	}
}

func deref(s *string) string {
	if s == nil {
		return "<programme>"
	}
	return *s
}

func TestGuessingMemberCodesIsCooledDownPerCaller(t *testing.T) {
	w := newTriggerWorld(t)
	lt.Exec(t, w.db, `UPDATE program_settings SET member_lookup_miss_limit = 3, member_lookup_miss_window_seconds = 600`)
	_, code := w.member()
	other := lt.Staff(t, w.db, w.store, loyalty.Crew)
	try := func(user, memberCode, receipt string) (int, string) {
		rec := hasuratest.Do(t, w.mux, hasuratest.ActionRequest(t, "earnPoints", map[string]any{"input": in{"storeId": w.store, "receiptNo": receipt, "amount": 1000, "memberCode": memberCode}}, staff(user)))
		if rec.Code == 200 {
			return 200, ""
		}
		return rec.Code, hasuratest.DecodeError(t, rec).Extensions.Code
	}
	for i := 0; i < 3; i++ {
		if status, got := try(w.crew.UserID, loyalty.NewMemberCode(), "G"); got != "not_found" {
			t.Fatalf("guess %d: %d %s; want not_found", i+1, status, got)
		}
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM member_lookup_misses WHERE user_id = $1`, w.crew.UserID); n != 3 {
		t.Fatalf("%d misses recorded, want 3", n)
	}
	// The fourth try is refused, even with a real code; another crew member is not.
	if status, got := try(w.crew.UserID, code, "R-1"); status != 403 || got != "forbidden" {
		t.Fatalf("after 3 misses: %d %s; want 403 forbidden", status, got)
	}
	if status, _ := try(other, code, "R-2"); status != 200 {
		t.Fatalf("another crew member: %d; want 200", status)
	}
	// Once the window has moved on, the first caller earns again.
	w.now = w.now.Add(11 * time.Minute)
	if status, _ := try(w.crew.UserID, code, "R-1"); status != 200 {
		t.Fatalf("after the cool-down: %d; want 200", status)
	}
}

func TestThePOSAloneMarksAnOrderPaid(t *testing.T) {
	w := newTriggerWorld(t)
	_, code := w.member()
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, amount, status) VALUES ($1, 'POS-P', 2000, 'pending')`, w.store)
	w.refuseAs("earnPoints", in{"storeId": w.store, "receiptNo": "POS-P", "amount": 2000, "memberCode": code}, staff(w.crew.UserID), loyalty.CodeReceiptConflict, 409)
	if n := lt.Count(t, w.db, `SELECT count(*) FROM orders WHERE receipt_no = 'POS-P' AND status = 'pending' AND member_id IS NULL`); n != 1 {
		t.Fatal("earnPoints changed a pending order")
	}
}

// refuseAs is refuse with the status a code gets.
func (w *triggerWorld) refuseAs(name string, input any, session map[string]string, code loyalty.Code, status int) {
	w.t.Helper()
	before := cronState(w.t, w.db)
	rec := hasuratest.Do(w.t, w.mux, hasuratest.ActionRequest(w.t, name, map[string]any{"input": input}, session))
	if body := hasuratest.DecodeError(w.t, rec); body.Extensions.Code != string(code) || rec.Code != status {
		w.t.Errorf("%s answered %d %q (%s), want %d %q", name, rec.Code, body.Extensions.Code, body.Message, status, code)
	}
	if after := cronState(w.t, w.db); after != before {
		w.t.Errorf("a refused %s changed the books", name)
	}
}

func TestProfileFieldsFollowRegisterMembersRulesWhoeverWritesThem(t *testing.T) {
	w := newTriggerWorld(t)
	for name, input := range map[string]in{
		"a new line in the name":   {"displayName": "Aiko\nAdmin"},
		"an escape in the phone":   {"displayName": "Aiko", "phone": "+81\x1b[2J"},
		"a bell in the e-mail":     {"displayName": "Aiko", "email": "Aiko\a <aiko@example.com>"},
		"a birthday in the future": {"displayName": "Aiko", "birthday": "2099-01-01"},
		// RFC 5322 allows a quoted local part with spaces; no mailbox a member has needs one,
		// and the database refuses white space in an address.
		"a space in a quoted local part": {"displayName": "Aiko", "email": `"aiko tanaka"@example.com`},
		"a tab in a quoted local part":   {"displayName": "Aiko", "email": "\"aiko\ttanaka\"@example.com"},
	} {
		t.Log(name)
		w.refuse("registerMember", input, member(hasuratest.NewUUID()), loyalty.CodeInvalidInput)
	}
	id := hasuratest.NewUUID()
	act[loyalty.RegisterMemberOutput](w, "registerMember", in{"displayName": "Aiko", "email": "Aiko Tanaka <aiko@example.com>"}, member(id))
	var email string
	if err := w.db.QueryRow(context.Background(), `SELECT email FROM members WHERE id = $1`, id).Scan(&email); err != nil || email != "aiko@example.com" {
		t.Fatalf("stored e-mail %q, %v; want the parsed address", email, err)
	}
	// The birthday is given once, while empty, through registerMember; then it stays.
	for _, b := range []string{"1990-04-01", "1991-05-02"} {
		act[loyalty.RegisterMemberOutput](w, "registerMember", in{"displayName": "Aiko", "birthday": b}, member(id))
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM members WHERE id = $1 AND birthday = '1990-04-01'`, id); n != 1 {
		t.Fatal("the birthday was not set once, or was changed after")
	}
	// The database holds any writer (a member through Hasura, an operator's SQL) to the rules.
	for _, set := range []string{`display_name = ''`, `display_name = repeat('x', 101)`, `phone = E'1\n2'`, `birthday = '1899-12-31'`, `email = 'a b@example.com'`} {
		var pgErr *pgconn.PgError
		if _, err := w.db.Exec(context.Background(), `UPDATE members SET `+set+` WHERE id = $1`, id); !errors.As(err, &pgErr) || pgErr.Code != "23514" {
			t.Errorf("SET %s: %v; want a check violation", set, err)
		}
	}
}

func TestDeletingAnAccountScrubsTheMemberFromFailureRecords(t *testing.T) {
	w := newCognitoWorld(t)
	id, _ := w.signUp(t, "aiko")
	other, _ := w.signUp(t, "bob")
	record := func(memberID, deliveryID string) {
		var row string
		if err := w.db.QueryRow(context.Background(), `SELECT row_to_json(m)::text FROM members m WHERE id = $1`, memberID).Scan(&row); err != nil {
			t.Fatal(err)
		}
		d := hasuratest.Event(t, "member_welcome", "members", "INSERT", nil, []byte(row), hasuratest.WithID(deliveryID))
		lt.Exec(t, w.db, `INSERT INTO trigger_failures (trigger, delivery_id, payload, status, error) VALUES ('member_welcome', $1, $2, 503, 'database down')`, d.ID, string(d.Body))
	}
	mine, theirs := hasuratest.NewUUID(), hasuratest.NewUUID()
	record(id, mine)
	record(other, theirs)
	lt.Exec(t, w.db, `INSERT INTO trigger_failures (trigger, delivery_id, payload, status, error) VALUES ('member_welcome', 'big', $1, 413, 'too large')`, `{"truncated": "`+id+`, aiko@example.com`)

	hasuratest.DecodeOutput[loyalty.DeleteMyAccountOutput](t, hasuratest.Do(t, w.h, deleteMyAccount(t, member(id))))

	payload := func(delivery string) string {
		var p string
		if err := w.db.QueryRow(context.Background(), `SELECT payload FROM trigger_failures WHERE delivery_id = $1`, delivery).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, delivery := range []string{mine, "big"} {
		if p := payload(delivery); strings.Contains(p, "aiko@example.com") || strings.Contains(p, "Aiko") {
			t.Errorf("failure %s still holds the member's data: %s", delivery, p)
		}
	}
	var event struct {
		ID    string `json:"id"`
		Event struct {
			Data struct {
				New map[string]any `json:"new"`
			} `json:"data"`
		} `json:"event"`
	}
	if err := json.Unmarshal([]byte(payload(mine)), &event); err != nil || event.ID != mine || event.Event.Data.New["id"] != id {
		t.Fatalf("the scrubbed payload is no longer the event: %v %+v", err, event)
	}
	if p := payload(theirs); !strings.Contains(p, "bob@example.com") {
		t.Errorf("another member's failure record was scrubbed: %s", p)
	}
}
