package routes_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/failures"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/server"
)

// quiet drops the handlers' logs, which would bury test output.
var quiet = slog.New(slog.DiscardHandler)

// triggerWorld is a database with the event triggers of the metadata captured the way
// Hasura's own triggers write them, and the route table served over it.
type triggerWorld struct {
	t     *testing.T
	db    *pgxpool.Pool
	svc   *loyalty.Service
	mu    sync.Mutex
	now   time.Time
	mux   http.Handler
	store string
	crew  loyalty.Caller
}

func newTriggerWorld(t *testing.T) *triggerWorld {
	t.Helper()
	w := &triggerWorld{t: t, db: pgtest.Pool(t), now: time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)}
	w.svc = loyalty.New(w.db, loyalty.WithClock(w.clock))
	env := &hasura.Envelope{Secret: hasuratest.Secret, Failures: failures.Recorder{DB: w.db}, Logger: quiet}
	w.mux = routes.Mux(routes.Table(env, w.svc), server.Health(w.db, nil))
	// The same ops and columns as hasura/metadata's event_triggers.
	hasuratest.CaptureEvents(t, w.db, "member_welcome", "members", "INSERT")
	hasuratest.CaptureEvents(t, w.db, "order_paid", "orders", "INSERT", hasuratest.UpdateOf("status", "member_id"))
	hasuratest.CaptureEvents(t, w.db, "order_refunded", "orders", hasuratest.UpdateOf("refunded_amount", "status"))
	hasuratest.CaptureEvents(t, w.db, "point_transaction_created", "point_transactions", "INSERT")
	w.store = lt.Store(t, w.db)
	w.crew = loyalty.Caller{Role: loyalty.RoleStaff, UserID: lt.Staff(t, w.db, w.store, loyalty.Manager)}
	t.Cleanup(func() { lt.CheckInvariants(t, w.db) })
	return w
}

func (w *triggerWorld) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// one takes the single captured event of trigger.
func (w *triggerWorld) one(trigger string) hasuratest.Delivery {
	w.t.Helper()
	ds := hasuratest.TakeEvents(w.t, w.db, trigger)
	if len(ds) != 1 {
		w.t.Fatalf("%d %s events captured, want 1", len(ds), trigger)
	}
	return ds[0]
}

// deliver sends d and requires a 2xx.
func (w *triggerWorld) deliver(d hasuratest.Delivery) loyalty.Outcome {
	w.t.Helper()
	rec := hasuratest.Do(w.t, w.mux, d.Request(w.t))
	return w.ok(rec)
}

func (w *triggerWorld) ok(rec *httptest.ResponseRecorder) loyalty.Outcome {
	w.t.Helper()
	if rec.Code < 200 || rec.Code > 299 {
		w.t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var out loyalty.Outcome
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// deliverAtLeastOnce sends d once, again, then 10 times at once, as Hasura may, and requires
// every answer to be 2xx. It returns the first outcome.
func (w *triggerWorld) deliverAtLeastOnce(d hasuratest.Delivery) loyalty.Outcome {
	w.t.Helper()
	first := w.deliver(d)
	if first.Duplicate {
		w.t.Fatalf("first delivery answered duplicate: %+v", first)
	}
	if again := w.deliver(d); !again.Duplicate {
		w.t.Fatalf("second delivery not recognised as a duplicate: %+v", again)
	}
	for _, rec := range hasuratest.DeliverConcurrently(w.t, w.mux, d, 10) {
		w.ok(rec)
	}
	return first
}

func (w *triggerWorld) member() (id, code string) {
	w.t.Helper()
	id, code = lt.Member(w.t, w.db)
	return id, code
}

func TestWelcomeBonusIsCreditedOnceWhateverTheDeliveries(t *testing.T) {
	w := newTriggerWorld(t)
	id, _ := w.member()
	d := w.one("member_welcome")
	if out := w.deliverAtLeastOnce(d); out.Points != 100 {
		t.Fatalf("welcome outcome %+v; want 100 points (seeded welcome_bonus_points)", out)
	}
	// Another event about the same member (a replayed insert) credits nothing more.
	replay := hasuratest.Event(t, "member_welcome", "members", "INSERT", nil, json.RawMessage(`{"id":"`+id+`"}`))
	w.deliver(replay)
	if b := lt.Balance(t, w.db, id); b != 100 {
		t.Fatalf("balance %d, want 100", b)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1 AND kind = 'bonus'`, id); n != 1 {
		t.Fatalf("%d bonus entries, want 1", n)
	}
}

func (w *triggerWorld) earn(code, receipt string, amount int64) loyalty.EarnPointsOutput {
	w.t.Helper()
	out, err := w.svc.EarnPoints(context.Background(), w.crew, loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: receipt, Amount: amount, MemberCode: &code})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

func TestOrderPaidAfterEarnPointsCreditsNothingMore(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	w.earn(code, "R-1", 2000)
	d := w.one("order_paid")
	if out := w.deliverAtLeastOnce(d); out.Points != 0 {
		t.Fatalf("order_paid after earnPoints credited %+v", out)
	}
	if b := lt.Balance(t, w.db, id); b != 20 {
		t.Fatalf("balance %d, want 20", b)
	}
}

func TestOrderPaidBeforeEarnPointsCreditsOnce(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	// A POS writes the paid order with the member; the trigger credits it.
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount) VALUES ($1, 'POS-1', $2, 3000)`, w.store, id)
	if out := w.deliverAtLeastOnce(w.one("order_paid")); out.Points != 30 {
		t.Fatalf("order_paid outcome %+v; want 30 points", out)
	}
	// The counter then scans the same receipt: a duplicate, nothing more.
	if out := w.earn(code, "POS-1", 3000); !out.Duplicate || out.PointsEarned != 30 {
		t.Fatalf("earnPoints after order_paid = %+v; want the duplicate of 30", out)
	}
	if b := lt.Balance(t, w.db, id); b != 30 {
		t.Fatalf("balance %d, want 30", b)
	}
}

func TestOrderPaidWaitsForAMemberAndPayment(t *testing.T) {
	w := newTriggerWorld(t)
	id, _ := w.member()
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, amount, status) VALUES ($1, 'POS-2', 3000, 'pending')`, w.store)
	if out := w.deliver(w.one("order_paid")); out.Skipped == "" || out.Points != 0 {
		t.Fatalf("pending order without member: %+v", out)
	}
	lt.Exec(t, w.db, `UPDATE orders SET member_id = $2, status = 'paid' WHERE receipt_no = 'POS-2' AND store_id = $1`, w.store, id)
	if out := w.deliver(w.one("order_paid")); out.Points != 30 {
		t.Fatalf("paid order with member: %+v", out)
	}
}

func TestOutOfOrderRefundEventsConvergeOnTheRightReversal(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	w.earn(code, "R-1", 1500) // 15 points
	hasuratest.TakeEvents(t, w.db, "order_refunded")
	// The POS records two partial refunds; Hasura delivers the later one first.
	lt.Exec(t, w.db, `UPDATE orders SET refunded_amount = 500 WHERE receipt_no = 'R-1'`)
	lt.Exec(t, w.db, `UPDATE orders SET refunded_amount = 1000 WHERE receipt_no = 'R-1'`)
	ds := hasuratest.TakeEvents(t, w.db, "order_refunded")
	if len(ds) != 2 {
		t.Fatalf("%d refund events", len(ds))
	}
	if out := w.deliverAtLeastOnce(ds[1]); out.Points != -10 {
		t.Fatalf("later refund first: %+v; want 10 reversed (1000 of 1500)", out)
	}
	if out := w.deliverAtLeastOnce(ds[0]); out.Points != 0 {
		t.Fatalf("stale earlier refund: %+v; want nothing more", out)
	}
	if b := lt.Balance(t, w.db, id); b != 5 {
		t.Fatalf("balance %d, want 5", b)
	}
	lt.Exec(t, w.db, `UPDATE orders SET refunded_amount = 1500, status = 'refunded' WHERE receipt_no = 'R-1'`)
	w.deliverAtLeastOnce(w.one("order_refunded"))
	if b := lt.Balance(t, w.db, id); b != 0 {
		t.Fatalf("balance %d after the full refund, want 0", b)
	}
}

func TestARefundBeforeTheOrderWasCreditedIsAppliedWhenItIs(t *testing.T) {
	w := newTriggerWorld(t)
	id, _ := w.member()
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount) VALUES ($1, 'POS-3', $2, 2000)`, w.store, id)
	lt.Exec(t, w.db, `UPDATE orders SET refunded_amount = 1000 WHERE receipt_no = 'POS-3'`)
	w.deliverAtLeastOnce(w.one("order_refunded")) // nothing earned yet: nothing to reverse
	w.deliverAtLeastOnce(w.one("order_paid"))     // credits 20, then reverses half
	if b := lt.Balance(t, w.db, id); b != 10 {
		t.Fatalf("balance %d, want 10", b)
	}
}

func TestTransactionCreatedNotifiesOnceAndUpgradesTheTier(t *testing.T) {
	w := newTriggerWorld(t)
	id, _ := w.member()
	// Post an earn behind earnPoints' back (as a replay or a POS import might), big enough for silver.
	lt.Exec(t, w.db, `INSERT INTO orders (id, store_id, receipt_no, member_id, amount) VALUES ('00000000-0000-4000-8000-0000000000e1', $1, 'IMP-1', $2, 150000)`, w.store, id)
	lt.Exec(t, w.db, `
		WITH t AS (INSERT INTO point_transactions (member_id, kind, points, balance_after, order_id, idempotency_key, created_at)
			VALUES ($1, 'earn', 1500, 1500, '00000000-0000-4000-8000-0000000000e1', 'earn:00000000-0000-4000-8000-0000000000e1', $2) RETURNING id, created_at)
		INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at) SELECT $1, id, 1500, 1500, created_at, created_at + interval '365 days' FROM t`, id, w.now)
	lt.Exec(t, w.db, `UPDATE members SET points_balance = 1500 WHERE id = $1`, id)
	w.deliverAtLeastOnce(w.one("point_transaction_created"))
	var tier string
	_ = w.db.QueryRow(context.Background(), `SELECT tier_id FROM members WHERE id = $1`, id).Scan(&tier)
	if tier != "silver" {
		t.Fatalf("tier %s, want silver", tier)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM notifications WHERE member_id = $1 AND kind = 'earn'`, id); n != 1 {
		t.Fatalf("%d earn notifications, want 1", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM notifications WHERE member_id = $1 AND kind = 'tier_up'`, id); n != 1 {
		t.Fatalf("%d tier_up notifications, want 1", n)
	}
}

func TestMisroutedAndMalformedEventsAre4xxAndRecorded(t *testing.T) {
	w := newTriggerWorld(t)
	w.member()
	d := w.one("member_welcome")
	wrong := hasuratest.Delivery{ID: d.ID, Name: "order_paid", Body: d.Body} // member_welcome's body at /order_paid
	rec := hasuratest.Do(t, w.mux, wrong.Request(t))
	if body := hasuratest.DecodeError(t, rec); rec.Code != 400 || body.Extensions.Code != "invalid_input" {
		t.Fatalf("misrouted: %d %+v", rec.Code, body)
	}
	bad := hasuratest.RawRequest(t, "/order_refunded", []byte(`{"id": "x", "trigger": {"name": "order_refunded"}`))
	if rec := hasuratest.Do(t, w.mux, bad); rec.Code != 400 {
		t.Fatalf("malformed: %d", rec.Code)
	}
	// Recorded under the trigger the payload names: that is the delivery Hasura retries.
	if n := lt.Count(t, w.db, `SELECT count(*) FROM trigger_failures WHERE trigger = 'member_welcome' AND delivery_id = $1 AND status = 400`, d.ID); n != 1 {
		t.Fatalf("%d failure records of the misrouted delivery", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions`); n != 0 {
		t.Fatal("a refused delivery changed the ledger")
	}
	// Delivered where it belongs, it succeeds and its failure record is resolved.
	w.deliver(d)
	if n := lt.Count(t, w.db, `SELECT count(*) FROM trigger_failures WHERE delivery_id = $1 AND resolved_at IS NOT NULL`, d.ID); n != 1 {
		t.Fatal("the failure was not marked resolved")
	}
}

func TestATransientFaultAnswers503WithRetryAfterAndIsRecorded(t *testing.T) {
	w := newTriggerWorld(t)
	id, _ := w.member()
	d := w.one("member_welcome")
	// A service whose database is unreachable; failures still go to the real one.
	down, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1&sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	env := &hasura.Envelope{Secret: hasuratest.Secret, Failures: failures.Recorder{DB: w.db}, Logger: quiet}
	mux := routes.Mux(routes.Table(env, loyalty.New(down)), server.Health(down, nil))
	rec := hasuratest.Do(t, mux, d.WithDeliveryInfo(10, 2).Request(t))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("database down: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	var attempt int
	if err := w.db.QueryRow(context.Background(), `SELECT last_attempt FROM trigger_failures WHERE trigger = 'member_welcome' AND delivery_id = $1 AND resolved_at IS NULL`, d.ID).Scan(&attempt); err != nil || attempt != 2 {
		t.Fatalf("failure record: attempt %d, err %v", attempt, err)
	}
	// Hasura retries once the database is back: the bonus lands and the failure is resolved.
	w.deliver(d)
	if lt.Balance(t, w.db, id) != 100 {
		t.Fatal("the retried delivery did not credit the bonus")
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM trigger_failures WHERE delivery_id = $1 AND resolved_at IS NOT NULL`, d.ID); n != 1 {
		t.Fatal("the failure was not marked resolved")
	}
}
