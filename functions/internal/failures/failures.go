// Package failures keeps a record of trigger deliveries that failed, in trigger_failures, so
// an operator can see and replay what Hasura gave up on.
package failures

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
)

// Recorder writes hasura.Failure values to trigger_failures, one row per delivery.
type Recorder struct{ DB *pgxpool.Pool }

var _ hasura.FailureRecorder = Recorder{}

// RecordFailure adds an attempt to the delivery's row; a delivery that succeeds later is
// marked resolved by the handler that applied it.
func (r Recorder) RecordFailure(ctx context.Context, f hasura.Failure) error {
	_, err := r.DB.Exec(ctx, `
		INSERT INTO trigger_failures (trigger, delivery_id, payload, status, error, last_attempt)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (trigger, delivery_id) DO UPDATE SET
			payload = excluded.payload, status = excluded.status, error = excluded.error,
			last_attempt = excluded.last_attempt, attempts = trigger_failures.attempts + 1,
			last_failed_at = now(), resolved_at = NULL`,
		f.Trigger, f.DeliveryID, string(f.Payload), f.Status, f.Error, f.Attempt)
	return err
}
