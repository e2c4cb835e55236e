package loyalty

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CouponReminderDays is how long before its expiry a coupon's holder is reminded.
const CouponReminderDays = 3

// ExpiryReminders (expiry_reminders, daily) writes to the outbox: for every member whose open
// lots reach their expiry within expiry_reminder_days of the run's scheduled time, one
// points_expiring notification with the points and the earliest date, once per member per
// earliest expiry date; and for every issued coupon expiring within CouponReminderDays, one
// coupon_expiring notification, once per coupon. Lots, then coupons, a batch per transaction,
// one statement a batch; the dedupe keys make a replayed or racing run write nothing twice.
//
// The points step walks the open lots of the window in (expires_at, id) order, a range of
// point_lots_open_liability_idx (its key), so a batch reads at most a batch of lots however few
// members are due (walking the members instead read the whole members table in one batch when few had
// points in the window). A member is reminded at the lot that is their earliest open one not
// yet expired (one probe of point_lots_member_open_idx), so once a run, with the sum of their
// lots in the window (another probe).
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
			from := lotCursorOf(cur.After, at)
			var lastAt *time.Time
			// Planned on tables not analysed yet (after a bulk load), the lots of the window
			// look few, and PostgreSQL would rather read them all and sort them than walk
			// the index in its order: no sorts in this batch, and no JIT (lockBatch).
			b := &pgx.Batch{}
			b.Queue(`SET LOCAL enable_sort = off`)
			b.Queue(`SET LOCAL jit = off`)
			b.Queue(`
				WITH lots AS (
					SELECT l.id, l.member_id, l.expires_at FROM point_lots l
					WHERE l.is_open AND l.expires_at > $1 AND l.expires_at <= $1::timestamptz + make_interval(days => $2)
					  AND (l.expires_at, l.id) > ($3::timestamptz, $4::uuid)
					ORDER BY l.expires_at, l.id LIMIT $5
				), due AS (
					SELECT l.member_id, s.points, l.expires_at AS earliest
					FROM lots l
					JOIN members m ON m.id = l.member_id AND m.deleted_at IS NULL
					CROSS JOIN LATERAL (
						SELECT sum(x.remaining) AS points FROM point_lots x
						WHERE x.member_id = l.member_id AND x.is_open
						  AND x.expires_at > $1 AND x.expires_at <= $1::timestamptz + make_interval(days => $2)) s
					-- The earliest open lot of the member: none before it (a scalar probe with LIMIT, so
					-- that the planner cannot turn it into a join over every lot).
					WHERE (SELECT true FROM point_lots e
					       WHERE e.member_id = l.member_id AND e.is_open AND e.expires_at > $1
					         AND (e.expires_at, e.id) < (l.expires_at, l.id) LIMIT 1) IS NULL
				), dated AS (
					SELECT d.*, (d.earliest AT TIME ZONE $6)::date AS expires_on FROM due d
				), written AS (
					INSERT INTO notifications (member_id, kind, title, body, data, dedupe_key, created_at)
					SELECT member_id, 'points_expiring', 'Points expiring soon',
					       format('%s of your points expire on %s. Use them before then!', points, to_char(expires_on, 'FMDD Month YYYY')),
					       jsonb_build_object('points', points, 'expiresOn', expires_on, 'expiresAt', earliest),
					       'points_expiring:' || member_id || ':' || expires_on, $7
					FROM dated ORDER BY member_id
					ON CONFLICT (dedupe_key) DO NOTHING
					RETURNING 1
				), last AS (
					SELECT expires_at, id FROM lots ORDER BY expires_at DESC, id DESC LIMIT 1
				)
				SELECT (SELECT count(*) FROM lots), (SELECT expires_at FROM last), (SELECT id::text FROM last), (SELECT count(*) FROM written)`,
				at, st.ExpiryReminderDays, from.At, from.ID, r.batchSize(), st.Timezone, now).QueryRow(func(row pgx.Row) error {
				return row.Scan(&seen, &lastAt, &last, &written)
			})
			err = tx.SendBatch(ctx, b).Close()
			out.Members += written
			if err == nil && lastAt != nil && last != nil {
				next := lotCursor{At: *lastAt, ID: *last}.String()
				last = &next
			}
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

// lotCursor is where the points step of a reminders run stands: the last lot done, in
// (expires_at, id) order. It is kept in cronCursor.After as "<expires_at>/<id>".
type lotCursor struct {
	At time.Time
	ID string
}

func (c lotCursor) String() string { return c.At.UTC().Format(time.RFC3339Nano) + "/" + c.ID }

// lotCursorOf reads a lotCursor kept by String, or starts before every lot of the window
// (expiring after at) when there is none. A cursor it cannot read (one a build that walked the
// members left) starts the step again: the dedupe keys make that write nothing twice.
func lotCursorOf(after string, at time.Time) lotCursor {
	start := lotCursor{At: at, ID: "00000000-0000-0000-0000-000000000000"}
	when, id, ok := strings.Cut(after, "/")
	if !ok {
		return start
	}
	t, err := time.Parse(time.RFC3339Nano, when)
	if err != nil || len(id) != len(start.ID) {
		return start
	}
	return lotCursor{At: t, ID: id}
}
