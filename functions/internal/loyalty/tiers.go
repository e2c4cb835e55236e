package loyalty

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ReviewTiers moves members down where the points earned in the 365 days up to the moment
// the review looks at them no longer hold their tier (the only place a tier goes down), and
// tells them. The window ends when the member is looked at, not at the scheduled time: a run
// that starts late, or a retry, must count what the member earned since.
func (s *Service) ReviewTiers(ctx context.Context, r CronRun) (Outcome, error) {
	at := r.ScheduledTime.UTC()
	return s.runBatches(ctx, r, func(tx pgx.Tx, cur *cronCursor, out *Outcome) (bool, error) {
		now := s.clock()
		tiers, err := loadTiers(ctx, tx)
		if err != nil || len(tiers) == 0 {
			return false, err
		}
		// Lock the batch first; the earned sums below are then read after the locks, so an
		// earn that raced this review is counted. The window has no upper end: an earn stamped
		// by a pod whose clock runs a little ahead still counts (as in earnedInYear).
		rows, err := tx.Query(ctx, `
			SELECT m.id FROM members m JOIN tiers t ON t.id = m.tier_id
			WHERE m.id > $1 AND m.deleted_at IS NULL AND t.rank > $2
			ORDER BY m.id LIMIT $3 FOR NO KEY UPDATE OF m`, cur.after(), tiers[0].Rank, r.batchSize())
		if err != nil {
			return false, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			return false, err
		}
		rows, err = tx.Query(ctx, `
			SELECT m.id, t.rank, coalesce((
				SELECT sum(points) FROM point_transactions p
				WHERE p.member_id = m.id AND p.kind IN ('earn', 'refund')
				  AND p.created_at > $1::timestamptz - interval '365 days'), 0)
			FROM members m JOIN tiers t ON t.id = m.tier_id
			WHERE m.id = ANY($2::uuid[])
			ORDER BY m.id`, now, ids)
		if err != nil {
			return false, err
		}
		type review struct {
			id     string
			rank   int
			earned int64
		}
		list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (review, error) {
			var v review
			err := row.Scan(&v.id, &v.rank, &v.earned)
			return v, err
		})
		if err != nil || len(list) == 0 {
			return false, err
		}
		for _, v := range list {
			best, ok := TierFor(tiers, max(v.earned, 0))
			if !ok || best.Rank >= v.rank {
				continue
			}
			if _, err := tx.Exec(ctx, `UPDATE members SET tier_id = $2 WHERE id = $1`, v.id, best.ID); err != nil {
				return false, err
			}
			out.Members++
			if err := notify(ctx, tx, v.id, "tier_down", nil, fmt.Sprintf("tier_down:%s:%s:%s", v.id, best.ID, at.Format("2006-01-02")), now, message{
				Title: "Your tier changed", Body: fmt.Sprintf("Your tier is now %s. Earn more to move back up.", best.ID),
				Data: map[string]any{"tierId": best.ID}}); err != nil {
				return false, err
			}
		}
		cur.After = ids[len(ids)-1]
		return len(ids) == r.batchSize(), nil
	})
}
