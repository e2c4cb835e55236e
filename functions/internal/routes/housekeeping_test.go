package routes_test

import (
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

func TestHousekeepingPrunesBookkeepingOlderThan30DaysInBatchesAndKeepsTheRest(t *testing.T) {
	w := newTriggerWorld(t)
	lt.Exec(t, w.db, `
		INSERT INTO trigger_deliveries (trigger, delivery_id, processed_at)
		SELECT 'order_paid', 'old-' || i, $1::timestamptz - interval '31 days' - i * interval '1 minute' FROM generate_series(1, 25) i
		UNION ALL
		SELECT 'order_paid', 'recent-' || i, $1::timestamptz - interval '29 days' FROM generate_series(1, 5) i`, w.now)
	// Used member QR tokens and cron cursors: 12 old, 2 recent of each.
	member, _ := lt.Member(t, w.db)
	store := lt.Store(t, w.db)
	lt.Exec(t, w.db, `
		WITH o AS (
			INSERT INTO orders (store_id, receipt_no, member_id, amount, status)
			SELECT $2, 'HK-' || i, $3, 100, 'paid' FROM generate_series(1, 14) i RETURNING id, receipt_no)
		INSERT INTO member_qr_uses (token_id, member_id, order_id, used_at)
		SELECT 'jti-' || receipt_no, $3, id, $1::timestamptz - CASE WHEN receipt_no IN ('HK-1', 'HK-2') THEN interval '1 day' ELSE interval '31 days' END
		FROM o`, w.now, store, member)
	lt.Exec(t, w.db, `
		INSERT INTO cron_progress (trigger, delivery_id, updated_at)
		SELECT 'expire_points', 'run-' || i, $1::timestamptz - CASE WHEN i <= 2 THEN interval '1 day' ELSE interval '31 days' END
		FROM generate_series(1, 14) i`, w.now)
	// A budget any batch uses up: every delivery prunes one batch of 10, and answers 503 with
	// Retry-After until the retries have pruned all: deliveries 10, 10, 5; QR uses 10, 2;
	// cursors 10, 2.
	d := hasuratest.Cron(t, "housekeeping", w.now, map[string]any{"batch_size": 10, "budget_seconds": 1e-9})
	out, deliveries := w.untilDone(d, 10)
	if out.Deliveries != 25 || out.QRUses != 12 || out.CronCursors != 12 || out.Batches != 7 || deliveries != 7 {
		t.Fatalf("outcome %+v after %d deliveries; want 25 deliveries, 12 QR uses and 12 cursors pruned in 7 batches", out, deliveries)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM member_qr_uses`); n != 2 {
		t.Errorf("%d QR uses left, want the 2 recent ones", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM cron_progress WHERE trigger = 'expire_points'`); n != 2 {
		t.Errorf("%d expire_points cursors left, want the 2 recent ones", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM trigger_deliveries WHERE delivery_id LIKE 'old-%'`); n != 0 {
		t.Errorf("%d deliveries older than 30 days left", n)
	}
	// The 5 recent ones and the housekeeping run's own record stay.
	if n := lt.Count(t, w.db, `SELECT count(*) FROM trigger_deliveries`); n != 6 {
		t.Errorf("%d deliveries left, want the 5 recent ones and this run", n)
	}
	if again := w.deliver(d); !again.Duplicate {
		t.Errorf("a redelivery of the run: %+v, want a duplicate", again)
	}
	next := hasuratest.Cron(t, "housekeeping", w.now.Add(24*time.Hour), nil)
	if out := w.deliver(next); out.Deliveries != 0 {
		t.Errorf("the next day's run pruned %d; nothing is 30 days old yet", out.Deliveries)
	}

	// A run scheduled far ahead of the database's clock, to which its own cursor looks old,
	// still keeps that cursor while it works, so it counts everything once.
	left := lt.Count(t, w.db, `SELECT (SELECT count(*) FROM trigger_deliveries) + (SELECT count(*) FROM member_qr_uses) + (SELECT count(*) FROM cron_progress)`)
	late := hasuratest.Cron(t, "housekeeping", time.Now().Add(60*24*time.Hour), map[string]any{"batch_size": 1, "budget_seconds": 1e-9})
	out, _ = w.untilDone(late, 50)
	if pruned := int64(out.Deliveries + out.QRUses + out.CronCursors); pruned != left {
		t.Errorf("the late run pruned %d (%+v); want the %d rows left, each once", pruned, out, left)
	}
}
