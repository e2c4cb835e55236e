package loyalty

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ReviewTiers moves members down where the points earned in the 365 days up to the moment
// the review looks at them no longer hold their tier (the only place a tier goes down), and
// tells them. The window ends when the member is looked at, not at the scheduled time: a run
// that starts late, or a retry, must count what the member earned since.
//
// A batch is two statements whatever its size: one picks and locks the next members above
// the lowest tier, one reads their year's points and moves down, and tells, those whose tier
// the points no longer hold (reviewTiersSQL).
func (s *Service) ReviewTiers(ctx context.Context, r CronRun) (Outcome, error) {
	day := r.ScheduledTime.UTC().Format("2006-01-02")
	return s.runBatches(ctx, r, func(tx pgx.Tx, cur *cronCursor, out *Outcome) (bool, error) {
		now := s.clock()
		// Lock the batch first; the earned sums are then read after the locks, in a statement
		// of their own, so an earn that raced this review is counted.
		ids, err := lockBatch(ctx, tx, `
			SELECT m.id FROM members m JOIN tiers t ON t.id = m.tier_id
			WHERE m.id > $1 AND m.deleted_at IS NULL AND t.rank > (SELECT min(rank) FROM tiers)
			ORDER BY m.id LIMIT $2 FOR NO KEY UPDATE OF m`, cur.after(), r.batchSize())
		if err != nil || len(ids) == 0 {
			return false, err
		}
		var moved int
		if err := tx.QueryRow(ctx, reviewTiersSQL, ids, now, day).Scan(&moved); err != nil {
			return false, err
		}
		out.Members += moved
		cur.After = ids[len(ids)-1]
		return len(ids) == r.batchSize(), nil
	})
}

// reviewTiersSQL reviews the locked members $1 at $2 (the run's date $3 keys the message):
//   - earned: the points that count for tiers at $2, tier_points (as in earnedInYear):
//     earn and refund entries after $2 less 365 days, with no upper end, so an earn stamped
//     by a pod whose clock runs a little ahead still counts; bounded whatever the history;
//   - review: the highest-ranked tier whose min_points max(earned, 0) reaches (TierFor),
//     kept where it ranks below the member's tier (a member no tier holds keeps theirs);
//   - moved: the members moved down, each told once (tier_down, keyed by member, tier and
//     run date, as notify does).
const reviewTiersSQL = `
	WITH earned AS (
		SELECT m.id, t.rank, w.points
		FROM members m JOIN tiers t ON t.id = m.tier_id
		CROSS JOIN LATERAL tier_points_window(m.id, $2::timestamptz) w
		WHERE m.id = ANY($1::uuid[])
	), review AS (
		SELECT e.id, best.id AS tier_id
		FROM earned e
		CROSS JOIN LATERAL (
			SELECT id, rank FROM tiers WHERE min_points <= greatest(e.points, 0)
			ORDER BY rank DESC LIMIT 1) best
		WHERE best.rank < e.rank
	), moved AS (
		UPDATE members m SET tier_id = r.tier_id
		FROM review r WHERE m.id = r.id
		RETURNING m.id, m.tier_id
	), told AS (
		INSERT INTO notifications (member_id, kind, title, body, data, dedupe_key, created_at)
		SELECT id, 'tier_down', 'Your tier changed', format('Your tier is now %s. Earn more to move back up.', tier_id),
		       jsonb_build_object('tierId', tier_id), 'tier_down:' || id || ':' || tier_id || ':' || $3, $2
		FROM moved ORDER BY id
		ON CONFLICT (dedupe_key) DO NOTHING
	)
	SELECT count(*) FROM moved`
