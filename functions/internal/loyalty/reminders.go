package loyalty

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// CouponReminderDays is how long before its expiry a coupon's holder is reminded.
const CouponReminderDays = 3

// ExpiryReminders (expiry_reminders, daily) writes to the outbox: for every member whose open
// lots reach their expiry within expiry_reminder_days of the run's scheduled time, one
// points_expiring notification with the points and the earliest date, once per member per
// earliest expiry date; and for every issued coupon expiring within CouponReminderDays, one
// coupon_expiring notification, once per coupon. Members, then coupons, in id order, a batch
// per transaction, one statement a batch; the dedupe keys make a replayed or racing run write
// nothing twice. The points step walks the members in id order and sums each one's lots in
// the window with a probe of point_lots_member_open_idx (a lateral aggregate), so a batch
// costs the same whatever the planner knows of the tables: grouping the lots of the window
// instead could read every lot in it for each batch.
func (s *Service) ExpiryReminders(ctx context.Context, r CronRun) (Outcome, error) {
	var st Settings
	if err := s.inTx(ctx, func(tx pgx.Tx) (err error) { st, err = loadSettings(ctx, tx); return err }); err != nil {
		return Outcome{}, err
	}
	if _, err := st.Location(); err != nil { // the SQL below reads dates in it
		return Outcome{}, err
	}
	at := r.ScheduledTime.UTC()
	now := s.clock()
	const (
		stepPoints = iota
		stepCoupons
		steps
	)
	return s.runBatches(ctx, r, func(tx pgx.Tx, cur *cronCursor, out *Outcome) (bool, error) {
		var seen, written int
		var last *string
		var err error
		switch {
		case cur.Step == stepPoints && st.ExpiryReminderDays == 0:
			cur.Step, cur.After = stepCoupons, ""
			return true, nil
		case cur.Step == stepPoints:
			err = tx.QueryRow(ctx, `
				WITH due AS (
					SELECT m.id AS member_id, m.deleted_at, s.points, s.earliest
					FROM members m
					CROSS JOIN LATERAL (
						SELECT sum(l.remaining) AS points, min(l.expires_at) AS earliest FROM point_lots l
						WHERE l.member_id = m.id AND l.remaining > 0
						  AND l.expires_at > $1 AND l.expires_at <= $1::timestamptz + make_interval(days => $2)) s
					WHERE m.id > $3 AND s.points IS NOT NULL
					ORDER BY m.id LIMIT $4
				), dated AS (
					SELECT d.*, (d.earliest AT TIME ZONE $5)::date AS expires_on FROM due d
					WHERE d.deleted_at IS NULL
				), written AS (
					INSERT INTO notifications (member_id, kind, title, body, data, dedupe_key, created_at)
					SELECT member_id, 'points_expiring', 'Points expiring soon',
					       format('%s of your points expire on %s. Use them before then!', points, to_char(expires_on, 'FMDD Month YYYY')),
					       jsonb_build_object('points', points, 'expiresOn', expires_on, 'expiresAt', earliest),
					       'points_expiring:' || member_id || ':' || expires_on, $6
					FROM dated ORDER BY member_id
					ON CONFLICT (dedupe_key) DO NOTHING
					RETURNING 1
				)
				SELECT (SELECT count(*) FROM due), (SELECT member_id::text FROM due ORDER BY member_id DESC LIMIT 1), (SELECT count(*) FROM written)`,
				at, st.ExpiryReminderDays, cur.after(), r.batchSize(), st.Timezone, now).Scan(&seen, &last, &written)
			out.Members += written
		case cur.Step == stepCoupons:
			err = tx.QueryRow(ctx, `
				WITH due AS (
					SELECT c.id, c.member_id, c.code, c.reward_id, c.expires_at, r.name AS reward_name
					FROM coupons c JOIN rewards r ON r.id = c.reward_id JOIN members m ON m.id = c.member_id
					WHERE c.status = 'issued' AND c.expires_at > $1 AND c.expires_at <= $1::timestamptz + make_interval(days => $2)
					  AND c.id > $3 AND m.deleted_at IS NULL
					ORDER BY c.id LIMIT $4
				), written AS (
					INSERT INTO notifications (member_id, kind, title, body, data, dedupe_key, created_at)
					SELECT member_id, 'coupon_expiring', 'Coupon expiring soon',
					       format('Your coupon for %s expires on %s.', reward_name, to_char(expires_at AT TIME ZONE $5, 'FMDD Month YYYY')),
					       jsonb_build_object('couponId', id, 'couponCode', code, 'rewardId', reward_id, 'expiresAt', expires_at),
					       'coupon_expiring:' || id, $6
					FROM due ORDER BY id
					ON CONFLICT (dedupe_key) DO NOTHING
					RETURNING 1
				)
				SELECT (SELECT count(*) FROM due), (SELECT id::text FROM due ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM written)`,
				at, CouponReminderDays, cur.after(), r.batchSize(), st.Timezone, now).Scan(&seen, &last, &written)
			out.Coupons += written
		default:
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if seen == r.batchSize() && last != nil {
			cur.After = *last
			return true, nil
		}
		cur.Step, cur.After = cur.Step+1, ""
		return cur.Step < steps, nil
	})
}
