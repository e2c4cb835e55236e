package routes_test

import (
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

func TestHousekeepingPrunesDeliveriesOlderThan30DaysInBatchesAndKeepsTheRest(t *testing.T) {
	w := newTriggerWorld(t)
	lt.Exec(t, w.db, `
		INSERT INTO trigger_deliveries (trigger, delivery_id, processed_at)
		SELECT 'order_paid', 'old-' || i, $1::timestamptz - interval '31 days' - i * interval '1 minute' FROM generate_series(1, 25) i
		UNION ALL
		SELECT 'order_paid', 'recent-' || i, $1::timestamptz - interval '29 days' FROM generate_series(1, 5) i`, w.now)
	// A budget any batch uses up: every delivery prunes one batch of 10, and answers 503 with
	// Retry-After until the retries have pruned all 25.
	d := hasuratest.Cron(t, "housekeeping", w.now, map[string]any{"batch_size": 10, "budget_seconds": 1e-9})
	out, deliveries := w.untilDone(d, 10)
	if out.Deliveries != 25 || out.Batches != 3 || deliveries != 3 {
		t.Fatalf("outcome %+v after %d deliveries; want 25 pruned in 3 batches", out, deliveries)
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
}
