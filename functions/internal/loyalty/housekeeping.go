package loyalty

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeliveryRetention is how long a delivery's record is kept: far longer than Hasura goes on
// redelivering an event or retrying a cron run, so pruning never lets a late duplicate through.
const DeliveryRetention = 30 * 24 * time.Hour

// Housekeeping prunes trigger_deliveries older than DeliveryRetention at the run's scheduled
// time, oldest first, a batch per transaction (on the processed_at index).
func (s *Service) Housekeeping(ctx context.Context, r CronRun) (Outcome, error) {
	cutoff := r.ScheduledTime.UTC().Add(-DeliveryRetention)
	return s.runBatches(ctx, r, func(tx pgx.Tx, _ *cronCursor, out *Outcome) (bool, error) {
		tag, err := tx.Exec(ctx, `
			DELETE FROM trigger_deliveries WHERE (trigger, delivery_id) IN (
				SELECT trigger, delivery_id FROM trigger_deliveries WHERE processed_at < $1
				ORDER BY processed_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, cutoff, r.batchSize())
		if err != nil {
			return false, err
		}
		out.Deliveries += int(tag.RowsAffected())
		return int(tag.RowsAffected()) == r.batchSize(), nil
	})
}
