package failures_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/failures"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestEveryFailedAttemptOfADeliveryLandsOnOneRow(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	r := failures.Recorder{DB: db}
	f := hasura.Failure{Trigger: "order_paid", DeliveryID: "d-1", Payload: []byte(`{"id":"d-1"}`), Status: 503, Error: "database down", Attempt: 0}
	if err := r.RecordFailure(ctx, f); err != nil {
		t.Fatal(err)
	}
	// Resolved by a success, then failing again on a manual redelivery: open again.
	if _, err := db.Exec(ctx, `UPDATE trigger_failures SET resolved_at = now()`); err != nil {
		t.Fatal(err)
	}
	f.Attempt, f.Status, f.Error = 1, 400, "misrouted"
	if err := r.RecordFailure(ctx, f); err != nil {
		t.Fatal(err)
	}
	var attempts, last, status int
	var msg, payload string
	var resolved *time.Time
	err := db.QueryRow(ctx, `SELECT attempts, last_attempt, status, error, payload, resolved_at FROM trigger_failures WHERE trigger = 'order_paid' AND delivery_id = 'd-1'`).
		Scan(&attempts, &last, &status, &msg, &payload, &resolved)
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 || last != 1 || status != 400 || msg != "misrouted" || payload != `{"id":"d-1"}` || resolved != nil {
		t.Fatalf("row: attempts %d last %d status %d error %q payload %q resolved %v", attempts, last, status, msg, payload, resolved)
	}
}
