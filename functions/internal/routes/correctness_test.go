package routes_test

// Edge cases where points were lost, kept or mis-tiered, each reproduced through the path a
// caller uses: actions over HTTP as Hasura posts them, events captured from real row changes,
// cron payloads as Hasura sends them.

import (
	"context"
	"errors"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// act posts an action to the trigger world's mux and decodes its 200 answer.
func act[Out any](w *triggerWorld, name string, input any, session map[string]string) Out {
	w.t.Helper()
	return hasuratest.DecodeOutput[Out](w.t, hasuratest.Do(w.t, w.mux, hasuratest.ActionRequest(w.t, name, map[string]any{"input": input}, session)))
}

// refuse posts an action that must be refused with code and leave every table as it was.
func (w *triggerWorld) refuse(name string, input any, session map[string]string, code loyalty.Code) {
	w.t.Helper()
	before := cronState(w.t, w.db)
	rec := hasuratest.Do(w.t, w.mux, hasuratest.ActionRequest(w.t, name, map[string]any{"input": input}, session))
	if body := hasuratest.DecodeError(w.t, rec); body.Extensions.Code != string(code) || rec.Code != http.StatusBadRequest {
		w.t.Errorf("%s answered %d %q (%s), want 400 %q", name, rec.Code, body.Extensions.Code, body.Message, code)
	}
	if after := cronState(w.t, w.db); after != before {
		w.t.Errorf("a refused %s changed the books: %v before, %v after", name, before, after)
	}
}

func (w *triggerWorld) earnHTTP(code, receipt string, amount int64) loyalty.EarnPointsOutput {
	w.t.Helper()
	return act[loyalty.EarnPointsOutput](w, "earnPoints", in{"storeId": w.store, "receiptNo": receipt, "amount": amount, "memberCode": code}, staff(w.crew.UserID))
}

func (w *triggerWorld) refundHTTP(receipt string, amount *int64) loyalty.RefundOrderOutput {
	w.t.Helper()
	input := in{"storeId": w.store, "receiptNo": receipt}
	if amount != nil {
		input["amount"] = *amount
	}
	return act[loyalty.RefundOrderOutput](w, "refundOrder", input, staff(w.crew.UserID))
}

func (w *triggerWorld) tier(id string) string {
	w.t.Helper()
	var tier string
	if err := w.db.QueryRow(context.Background(), `SELECT tier_id FROM members WHERE id = $1`, id).Scan(&tier); err != nil {
		w.t.Fatal(err)
	}
	return tier
}

// deliverAll delivers every captured event of each trigger, in order.
func (w *triggerWorld) deliverAll(triggers ...string) {
	w.t.Helper()
	for _, name := range triggers {
		for _, d := range hasuratest.TakeEvents(w.t, w.db, name) {
			w.deliver(d)
		}
	}
}

// openLot is what is left of the lot an order's earn opened.
func (w *triggerWorld) openLot(receipt string) (remaining int64, expires time.Time) {
	w.t.Helper()
	err := w.db.QueryRow(context.Background(), `
		SELECT l.remaining, l.expires_at FROM point_lots l
		JOIN point_transactions t ON t.id = l.transaction_id
		JOIN orders o ON o.id = t.order_id
		WHERE o.receipt_no = $1 AND t.kind = 'earn'`, receipt).Scan(&remaining, &expires)
	if err != nil {
		w.t.Fatal(err)
	}
	return remaining, expires
}

func TestARefundTakesBackTheLotItsOwnOrderOpenedNotTheSoonestToExpire(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	today := w.now
	w.now = today.AddDate(0, 0, -360) // the old lot expires in 5 days
	w.earnHTTP(code, "OLD", 10_000)   // 100 points
	w.now = today
	w.earnHTTP(code, "NEW", 10_000) // 100 points, valid a year
	if out := w.refundHTTP("NEW", nil); out.PointsReversed != 100 || *out.PointsBalance != 100 {
		t.Fatalf("refund = %+v; want 100 reversed, 100 left", out)
	}
	if left, _ := w.openLot("NEW"); left != 0 {
		t.Errorf("the refunded order's own lot still holds %d", left)
	}
	if left, expires := w.openLot("OLD"); left != 100 || !expires.Equal(today.AddDate(0, 0, 5)) {
		t.Errorf("the old lot holds %d expiring %v; want all 100 expiring %v", left, expires, today.AddDate(0, 0, 5))
	}
	// Six days later the old points expire, as they would have without the purchase.
	w.deliver(hasuratest.Cron(t, "expire_points", today.AddDate(0, 0, 6), nil))
	if b := lt.Balance(t, w.db, id); b != 0 {
		t.Fatalf("balance %d after the old lot's expiry, want 0", b)
	}
}

func TestARefundTakesWhatIsLeftOfItsOwnLotFirstThenTheSoonestToExpire(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	today := w.now
	w.now = today.AddDate(0, 0, -300)
	w.earnHTTP(code, "A", 10_000) // 100, expires in 65 days
	w.now = today
	w.earnHTTP(code, "C", 10_000) // 100, expires in 365 days
	// Spending 150 takes A and 50 of C (FIFO); 50 of C are left.
	act[loyalty.RedeemRewardOutput](w, "redeemReward", in{"rewardId": lt.Reward(t, w.db, lt.RewardSpec{Cost: 150}), "idempotencyKey": hasuratest.NewUUID()}, member(id))
	// Points are now valid 30 days: a goodwill credit of 80 expires before C's lot.
	lt.Exec(t, w.db, `UPDATE program_settings SET points_validity_days = 30`)
	w.now = today.AddDate(0, 0, 1)
	lt.Give(t, w.svc, id, 80)
	// Refunding C takes back its own 50 first, then 50 of the goodwill lot.
	if out := w.refundHTTP("C", nil); out.PointsReversed != 100 || *out.PointsBalance != 30 {
		t.Fatalf("refund = %+v; want 100 reversed, 30 left", out)
	}
	if left, _ := w.openLot("C"); left != 0 {
		t.Errorf("C's lot holds %d, want 0", left)
	}
	if n := lt.Count(t, w.db, `SELECT remaining FROM point_lots l JOIN point_transactions t ON t.id = l.transaction_id WHERE l.member_id = $1 AND t.kind = 'adjust'`, id); n != 30 {
		t.Errorf("the goodwill lot holds %d, want 30", n)
	}
}

// The nightly expiry deletes the lots it expires (the expire entry is their record) and no
// other: a lot spent to nothing and a lot not yet due stay. A refund of an order whose lot
// expired then takes from the lots that are left, as it did when such a lot stayed at 0.
func TestAnExpiryDeletesTheLotsItExpiresAndARefundAfterItTakesFromTheRest(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	today := w.now
	w.now = today.AddDate(0, 0, -370)
	w.earnHTTP(code, "A", 10_000) // 100, expired 5 days ago
	w.now = today.AddDate(0, 0, -368)
	w.earnHTTP(code, "B", 20_000) // 200, expired 3 days ago
	// Spending 150 takes all of A and 50 of B (FIFO).
	act[loyalty.RedeemRewardOutput](w, "redeemReward", in{"rewardId": lt.Reward(t, w.db, lt.RewardSpec{Cost: 150}), "idempotencyKey": hasuratest.NewUUID()}, member(id))
	w.now = today.AddDate(0, 0, -10)
	w.earnHTTP(code, "C", 10_000) // 100, valid another 355 days
	w.now = today

	out := w.deliverAtLeastOnce(hasuratest.Cron(t, "expire_points", today, nil))
	if out.Members != 1 || out.Points != -150 {
		t.Fatalf("outcome %+v; want B's 150 points of one member expired", out)
	}
	lotsOf := func(receipt string) int64 {
		return lt.Count(t, w.db, `
			SELECT count(*) FROM point_lots l JOIN point_transactions t ON t.id = l.transaction_id
			WHERE t.order_id = $1 AND t.kind = 'earn'`, w.orderID(receipt))
	}
	if n := lotsOf("B"); n != 0 {
		t.Errorf("the expired lot of B is still there (%d rows)", n)
	}
	if left, _ := w.openLot("A"); left != 0 || lotsOf("A") != 1 {
		t.Errorf("A's lot, spent before it was due: %d left, %d rows; want kept at 0", left, lotsOf("A"))
	}
	if left, _ := w.openLot("C"); left != 100 {
		t.Errorf("C's lot, not due, holds %d; want 100", left)
	}
	if b := lt.Balance(t, w.db, id); b != 100 {
		t.Fatalf("balance %d after the expiry, want 100", b)
	}
	// B's own lot is gone: its refund takes C's 100 and leaves a debt of the other 100.
	if out := w.refundHTTP("B", nil); out.PointsReversed != 200 || *out.PointsBalance != -100 {
		t.Fatalf("refund of B = %+v; want 200 reversed, -100 left", out)
	}
	if left, _ := w.openLot("C"); left != 0 {
		t.Errorf("C's lot holds %d after the refund of B, want 0", left)
	}
	lt.CheckInvariants(t, w.db)
}

func TestACreditedOrderCannotChangeMemberAndItsRefundStaysWithTheEarner(t *testing.T) {
	w := newTriggerWorld(t)
	a, _ := w.member()
	b, _ := w.member()
	lt.Give(t, w.svc, b, 50)
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount) VALUES ($1, 'POS-1', $2, 10000)`, w.store, a)
	w.deliverAll("order_paid") // A earns 100

	// A POS correction naming another member is refused by the database.
	_, err := w.db.Exec(context.Background(), `UPDATE orders SET member_id = $2 WHERE store_id = $1 AND receipt_no = 'POS-1'`, w.store, b)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
		t.Fatalf("changing the member of a credited order: %v; want a check violation", err)
	}
	if _, err := w.db.Exec(context.Background(), `UPDATE orders SET member_id = NULL WHERE store_id = $1 AND receipt_no = 'POS-1'`, w.store); err == nil {
		t.Fatal("clearing the member of a credited order was accepted")
	}
	// Before it is credited, an order's member may still be corrected.
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount, status) VALUES ($1, 'POS-2', $2, 10000, 'pending')`, w.store, a)
	lt.Exec(t, w.db, `UPDATE orders SET member_id = $2 WHERE store_id = $1 AND receipt_no = 'POS-2'`, w.store, b)

	w.refundHTTP("POS-1", nil)
	w.deliverAll("order_paid", "order_refunded")
	if ba, bb := lt.Balance(t, w.db, a), lt.Balance(t, w.db, b); ba != 0 || bb != 50 {
		t.Fatalf("after the refund A has %d, B has %d; want 0 and 50", ba, bb)
	}
}

func TestAReversalGoesToTheMemberWhoEarnedEvenIfTheOrderWasRepointed(t *testing.T) {
	w := newTriggerWorld(t)
	a, _ := w.member()
	b, _ := w.member()
	lt.Give(t, w.svc, b, 50)
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount) VALUES ($1, 'POS-1', $2, 10000)`, w.store, a)
	w.deliverAll("order_paid")
	// An operator's hotfix that bypasses the guard (triggers off for the session).
	ctx := context.Background()
	tx, err := w.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE orders SET member_id = $1 WHERE receipt_no = 'POS-1'`, b); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// order_paid fires again for the new member: a duplicate of the order's one earn.
	w.deliver(hasuratest.Event(t, "order_paid", "orders", "UPDATE", []byte(`{"id":"`+w.orderID("POS-1")+`"}`), []byte(`{"id":"`+w.orderID("POS-1")+`"}`)))
	if out := w.refundHTTP("POS-1", nil); out.PointsReversed != 100 || *out.PointsBalance != 0 {
		t.Fatalf("refund = %+v; want A's 100 reversed, A's balance 0", out)
	}
	if ba, bb := lt.Balance(t, w.db, a), lt.Balance(t, w.db, b); ba != 0 || bb != 50 {
		t.Fatalf("A has %d, B has %d; want 0 and 50", ba, bb)
	}
}

func (w *triggerWorld) orderID(receipt string) string {
	w.t.Helper()
	var id string
	if err := w.db.QueryRow(context.Background(), `SELECT id FROM orders WHERE store_id = $1 AND receipt_no = $2`, w.store, receipt).Scan(&id); err != nil {
		w.t.Fatal(err)
	}
	return id
}

func TestATierUpgradeSeesTheReversalOfTheSameTransaction(t *testing.T) {
	w := newTriggerWorld(t)
	// Silver needs 1000 points earned in a year; both members stand at 985.
	counter, code := w.member()
	w.earnHTTP(code, "BASE-1", 98_500)
	pos, posCode := w.member()
	w.earnHTTP(posCode, "BASE-2", 98_500)

	t.Run("earnPoints on a receipt a POS recorded as partly refunded", func(t *testing.T) {
		lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, amount, refunded_amount) VALUES ($1, 'HALF-1', 2000, 1000)`, w.store)
		out := w.earnHTTP(code, "HALF-1", 2000) // 20 earned, 10 reversed: 995
		if out.TierID != "member" || out.PointsBalance != 995 {
			t.Fatalf("earn = %+v; want tier member at 995", out)
		}
	})
	t.Run("order_paid on an order inserted partly refunded", func(t *testing.T) {
		lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount, refunded_amount) VALUES ($1, 'HALF-2', $2, 2000, 1000)`, w.store, pos)
		w.deliverAll("order_paid")
		if b := lt.Balance(t, w.db, pos); b != 995 {
			t.Fatalf("balance %d, want 995", b)
		}
	})
	w.deliverAll("order_refunded", "point_transaction_created")
	for _, id := range []string{counter, pos} {
		if tier := w.tier(id); tier != "member" {
			t.Errorf("member %s is %s at 995 tier points; want member", id, tier)
		}
	}
}

func TestTierReviewJudgesTheWindowAsItIsWhenItLooks(t *testing.T) {
	w := newTriggerWorld(t)
	scheduled := w.now
	id, code := w.member()
	lt.Exec(t, w.db, `UPDATE members SET tier_id = 'gold' WHERE id = $1`, id)
	w.now = scheduled.Add(30 * time.Second)
	w.earnHTTP(code, "R-1", 600_000) // 6000 points: gold again, after the scheduled time
	for _, late := range []time.Duration{time.Minute, 600 * time.Second} {
		w.now = scheduled.Add(late)
		w.deliver(hasuratest.Cron(t, "tier_review", scheduled, nil))
		if tier := w.tier(id); tier != "gold" {
			t.Fatalf("a review of %v run %v late made the member %s; their window holds gold", scheduled, late, tier)
		}
	}
}

// untilDone delivers d again and again, as Hasura retries a 503 with Retry-After, until it
// answers 2xx; it fails after limit deliveries.
func (w *triggerWorld) untilDone(d hasuratest.Delivery, limit int) (loyalty.Outcome, int) {
	w.t.Helper()
	for i := 1; i <= limit; i++ {
		rec := hasuratest.Do(w.t, w.mux, d.Request(w.t))
		switch {
		case rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") != "":
			continue
		case rec.Code >= 200 && rec.Code < 300:
			return w.ok(rec), i
		default:
			w.t.Fatalf("delivery %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	w.t.Fatalf("%s did not finish in %d deliveries", d.Name, limit)
	return loyalty.Outcome{}, 0
}

// oneBatch is a cron payload whose budget is used up by any batch: every delivery does one.
var oneBatch = map[string]any{"batch_size": 2, "budget_seconds": 1e-9}

func TestAnInterruptedTierReviewResumesWhereItStopped(t *testing.T) {
	w := newTriggerWorld(t)
	// Seven gold members who keep their tier, and one who falls: in id order, anywhere.
	var falls string
	for i := 0; i < 8; i++ {
		id, code := w.member()
		lt.Exec(t, w.db, `UPDATE members SET tier_id = 'gold' WHERE id = $1`, id)
		if i == 0 {
			falls = id
			continue
		}
		w.earnHTTP(code, "R-"+id, 600_000)
	}
	out, deliveries := w.untilDone(hasuratest.Cron(t, "tier_review", w.now, oneBatch), 10)
	if deliveries < 4 || out.Members != 1 {
		t.Fatalf("finished after %d deliveries with %+v; want at least 4 (8 members, 2 a batch), 1 member moved", deliveries, out)
	}
	if tier := w.tier(falls); tier != "member" {
		t.Fatalf("the falling member is %s, want member", tier)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM members WHERE tier_id = 'gold'`); n != 7 {
		t.Fatalf("%d gold members, want 7", n)
	}
}

func TestAnInterruptedBirthdayRunResumesWhereItStopped(t *testing.T) {
	w := newTriggerWorld(t)
	// Five members a day over the three days the run looks at (today and the two before).
	scheduled := time.Date(2026, 6, 3, 15, 5, 0, 0, time.UTC) // 4 June in Tokyo
	var ids []string
	for day := 2; day <= 4; day++ {
		for i := 0; i < 5; i++ {
			id, _ := w.member()
			lt.Exec(t, w.db, `UPDATE members SET birthday = make_date(1990, 6, $2), created_at = '2020-01-01' WHERE id = $1`, id, day)
			ids = append(ids, id)
		}
	}
	out, deliveries := w.untilDone(hasuratest.Cron(t, "birthday_bonus", scheduled, oneBatch), 20)
	if deliveries < 9 || out.Members != 15 {
		t.Fatalf("finished after %d deliveries with %+v; want at least 9 (3 batches a day), 15 members paid", deliveries, out)
	}
	for _, id := range ids {
		if b := lt.Balance(t, w.db, id); b != 200 {
			t.Errorf("member %s has %d, want the 200 birthday bonus once", id, b)
		}
	}
}

func TestBirthdayRulesReadDatesInTheProgrammesTimeZone(t *testing.T) {
	w := newTriggerWorld(t)
	// Both born on 1 June; both registered on 2 June in Tokyo, at 08:30 and 10:30.
	early, _ := w.member()
	late, _ := w.member()
	lt.Exec(t, w.db, `UPDATE members SET birthday = '1990-06-01', created_at = '2026-06-02 08:30+09' WHERE id = $1`, early)
	lt.Exec(t, w.db, `UPDATE members SET birthday = '1990-06-01', created_at = '2026-06-02 10:30+09' WHERE id = $1`, late)
	// The run of 2 June in Tokyo looks back to 1 June: both joined after their birthday.
	w.deliver(hasuratest.Cron(t, "birthday_bonus", time.Date(2026, 6, 2, 3, 0, 0, 0, time.UTC), nil))
	if be, bl := lt.Balance(t, w.db, early), lt.Balance(t, w.db, late); be != bl || be != 0 {
		t.Fatalf("balances %d and %d; want both 0 (both registered after the birthday, in Tokyo)", be, bl)
	}

	t.Run("today's birthday in Tokyo is a past date while it is still yesterday in UTC", func(t *testing.T) {
		w.now = time.Date(2026, 6, 1, 15, 30, 0, 0, time.UTC) // 00:30 on 2 June in Tokyo
		out := act[loyalty.RegisterMemberOutput](w, "registerMember", in{"displayName": "Born today", "birthday": "2000-06-02"}, member(hasuratest.NewUUID()))
		if !out.Created {
			t.Fatalf("registerMember = %+v", out)
		}
	})
}

func TestAmountsAndPointsStayWithinGraphQLInt(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	w.earnHTTP(code, "R-1", 20_000) // 200
	act[loyalty.RedeemRewardOutput](w, "redeemReward", in{"rewardId": lt.Reward(t, w.db, lt.RewardSpec{Cost: 200}), "idempotencyKey": hasuratest.NewUUID()}, member(id))
	w.refundHTTP("R-1", nil) // -200
	if b := lt.Balance(t, w.db, id); b != -200 {
		t.Fatalf("set-up: balance %d, want -200", b)
	}
	rich, _ := w.member()
	lt.Give(t, w.svc, rich, 100)
	adjust := func(member string, points int64) in {
		return in{"memberId": member, "points": points, "reason": "test", "idempotencyKey": hasuratest.NewUUID()}
	}
	w.refuse("adjustPoints", adjust(id, math.MinInt64), hasuratest.Admin(), loyalty.CodeInvalidInput)
	w.refuse("adjustPoints", adjust(id, math.MinInt32-1), hasuratest.Admin(), loyalty.CodeInvalidInput)
	w.refuse("adjustPoints", adjust(rich, math.MaxInt32), hasuratest.Admin(), loyalty.CodeInvalidInput) // 100 + MaxInt32
	w.refuse("earnPoints", in{"storeId": w.store, "receiptNo": "BIG", "amount": int64(math.MaxInt32) + 1, "memberCode": code}, staff(w.crew.UserID), loyalty.CodeInvalidInput)
	w.refuse("refundOrder", in{"storeId": w.store, "receiptNo": "R-1", "amount": int64(math.MaxInt32) + 1}, staff(w.crew.UserID), loyalty.CodeInvalidInput)
	// The largest balance GraphQL can show is accepted.
	out := act[loyalty.AdjustPointsOutput](w, "adjustPoints", adjust(rich, math.MaxInt32-100), hasuratest.Admin())
	if out.PointsBalance != math.MaxInt32 {
		t.Fatalf("balance %d, want %d", out.PointsBalance, math.MaxInt32)
	}
	// The database refuses what the functions would refuse, whoever writes it.
	for _, stmt := range []string{
		`UPDATE members SET points_balance = 2147483648 WHERE id = '` + rich + `'`,
		`UPDATE orders SET amount = 2147483648 WHERE receipt_no = 'R-1'`,
		`UPDATE program_settings SET earn_points_per_unit = 2147483648`,
	} {
		var pgErr *pgconn.PgError
		if _, err := w.db.Exec(context.Background(), stmt); !errors.As(err, &pgErr) || pgErr.Code != "23514" {
			t.Errorf("%s: %v; want a check violation", stmt, err)
		}
	}
}

func TestAReceiptNumberIsTheSameWithOrWithoutSurroundingSpace(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	first := w.earnHTTP(code, " R-1 ", 1000)
	if again := w.earnHTTP(code, "R-1", 1000); !again.Duplicate || again.TransactionID != first.TransactionID {
		t.Fatalf("R-1 after \" R-1 \" = %+v; want the duplicate", again)
	}
	// A POS writes its receipt with a trailing tab; the counter types it without.
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount) VALUES ($1, E'POS-9\t', $2, 3000)`, w.store, id)
	w.deliverAll("order_paid")
	if out := w.earnHTTP(code, "POS-9", 3000); !out.Duplicate || out.PointsEarned != 30 {
		t.Fatalf("earnPoints POS-9 = %+v; want the duplicate of the POS order's 30", out)
	}
	if out := w.refundHTTP("  POS-9", nil); out.PointsReversed != 30 {
		t.Fatalf("refund of \"  POS-9\" = %+v; want 30 reversed", out)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM orders WHERE receipt_no IN ('R-1', 'POS-9')`); n != 2 {
		t.Fatalf("%d orders stored trimmed, want 2", n)
	}
	if b := lt.Balance(t, w.db, id); b != 10 {
		t.Fatalf("balance %d, want 10", b)
	}
}

func TestARefundAfterTheAccountWasDeletedReversesNoPoints(t *testing.T) {
	w := newCognitoWorld(t)
	id, code := w.signUp(t, "aiko")
	w.earn(t, staff(w.crew), w.store, "R-1", 10_000, code) // 100
	hasuratest.DecodeOutput[loyalty.DeleteMyAccountOutput](t, hasuratest.Do(t, w.h, deleteMyAccount(t, member(id))))
	out := call[loyalty.RefundOrderOutput](t, w.world, "refundOrder", in{"storeId": w.store, "receiptNo": "R-1"}, staff(w.manager))
	if out.PointsReversed != 0 || out.TransactionID != nil {
		t.Fatalf("refund = %+v; want nothing reversed", out)
	}
	if b := lt.Balance(t, w.db, id); b != 0 {
		t.Fatalf("the deleted member's balance is %d, want 0", b)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM orders WHERE receipt_no = 'R-1' AND status = 'refunded' AND refunded_amount = 10000`); n != 1 {
		t.Fatal("the refund was not recorded on the order")
	}
}
