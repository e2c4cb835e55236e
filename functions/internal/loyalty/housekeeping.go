package loyalty

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
)

// DeliveryRetention is how long a delivery's record is kept: far longer than Hasura goes on
// redelivering an event or retrying a cron run, so pruning never lets a late duplicate through.
const DeliveryRetention = 30 * 24 * time.Hour

// Housekeeping prunes, at the run's scheduled time, bookkeeping older than DeliveryRetention,
// oldest first, a batch per transaction, one kind after the other: trigger_deliveries (on the
// processed_at index); member_qr_uses (a token lives minutes, so an old use refuses nothing:
// the token itself no longer verifies); cron_progress of runs abandoned unfinished (a finished run
// deletes its own; never this run's, whatever the clocks say).
func (s *Service) Housekeeping(ctx context.Context, r CronRun) (Outcome, error) {
	cutoff := r.ScheduledTime.UTC().Add(-DeliveryRetention)
	prunes := []struct {
		sql   string
		count func(*Outcome) *int
	}{
		{`DELETE FROM trigger_deliveries WHERE (trigger, delivery_id) IN (
			SELECT trigger, delivery_id FROM trigger_deliveries WHERE processed_at < @cutoff
			ORDER BY processed_at LIMIT @limit FOR UPDATE SKIP LOCKED)`, func(o *Outcome) *int { return &o.Deliveries }},
		{`DELETE FROM member_qr_uses WHERE token_id IN (
			SELECT token_id FROM member_qr_uses WHERE used_at < @cutoff
			ORDER BY used_at LIMIT @limit FOR UPDATE SKIP LOCKED)`, func(o *Outcome) *int { return &o.QRUses }},
		{`DELETE FROM cron_progress WHERE (trigger, delivery_id) IN (
			SELECT trigger, delivery_id FROM cron_progress
			WHERE updated_at < @cutoff AND (trigger, delivery_id) <> (@trigger::text, @delivery::text)
			ORDER BY updated_at LIMIT @limit FOR UPDATE SKIP LOCKED)`, func(o *Outcome) *int { return &o.CronCursors }},
	}
	return s.runBatches(ctx, r, func(tx pgx.Tx, cur *cronCursor, out *Outcome) (bool, error) {
		p := prunes[cur.Step]
		tag, err := tx.Exec(ctx, p.sql, database.Args{"cutoff": cutoff, "limit": r.batchSize(), "trigger": r.Trigger, "delivery": r.ID})
		if err != nil {
			return false, err
		}
		*p.count(out) += int(tag.RowsAffected())
		if int(tag.RowsAffected()) == r.batchSize() {
			return true, nil
		}
		cur.Step++
		return cur.Step < len(prunes), nil
	})
}
