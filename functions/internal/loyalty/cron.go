package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
)

// CronRun is one delivery of a cron trigger.
type CronRun struct {
	Delivery
	// ScheduledTime is the run's "now": replaying a run uses the same cut-off.
	ScheduledTime time.Time
	// BatchSize bounds the members or coupons one transaction touches.
	BatchSize int
	// Budget bounds the time one delivery works; what is left is done on the retry.
	Budget time.Duration
}

const (
	DefaultBatchSize = 500
	// DefaultBudget is for a delivery without budget_seconds: under Hasura's default cron
	// timeout of 60 s (our cron triggers set 300 s and a budget of 240).
	DefaultBudget = 45 * time.Second
)

func (r CronRun) batchSize() int {
	if r.BatchSize > 0 {
		return r.BatchSize
	}
	return DefaultBatchSize
}

// ErrMoreWork is returned when a run used its budget with work left. It is temporary: the
// retry continues where this delivery stopped, and nothing is done twice.
type ErrMoreWork struct{ Done Outcome }

func (e *ErrMoreWork) Error() string {
	return fmt.Sprintf("time budget used after %d batches; the retry continues", e.Done.Batches)
}
func (e *ErrMoreWork) Temporary() bool { return true }

// cronCursor is where a run stands, kept in cron_progress between deliveries of the run: a
// retry of a delivery that used its budget continues from there. Each job reads it its own
// way: Step is a phase (a day of the birthday run), After the last id done in it.
type cronCursor struct {
	Step  int    `json:"step,omitempty"`
	After string `json:"after,omitempty"`
	// Done: the last batch reported no more work; only the delivery's record is left to write.
	Done bool `json:"done,omitempty"`
}

// after is the keyset position: the last id done, or below every uuid.
func (c *cronCursor) after() string {
	if c.After == "" {
		return "00000000-0000-0000-0000-000000000000"
	}
	return c.After
}

// runBatches calls batch until it reports no more work, each call in its own transaction
// together with the run's cursor and outcome so far, then records the delivery. A delivery
// that uses its budget answers ErrMoreWork; Hasura's retry of it (same id) continues from the
// cursor, so a run larger than any one budget still finishes. Concurrent deliveries of the
// same id take turns on the cursor's row lock. Each batch must still be idempotent on its own
// (business keys in the ledger and notifications), so a run replayed under another id does
// nothing twice.
func (s *Service) runBatches(ctx context.Context, r CronRun, batch func(tx pgx.Tx, cur *cronCursor, out *Outcome) (more bool, err error)) (Outcome, error) {
	var done Outcome
	// A delivery already recorded as complete does nothing.
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `SELECT result FROM trigger_deliveries WHERE trigger = $1 AND delivery_id = $2`, r.Trigger, r.ID).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err == nil {
			done.Duplicate = true
		}
		return err
	})
	if err != nil || done.Duplicate {
		return done, err
	}
	budget := r.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	deadline := time.Now().Add(budget)
	for {
		var finished bool
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			// A batch's statements select by time (due, expiring, in the review's window).
			if err := database.PlanByValues(ctx, tx); err != nil {
				return err
			}
			cur, out, err := loadProgress(ctx, tx, r.Delivery)
			if err != nil || cur.Done {
				done, finished = out, true
				return err
			}
			more, err := batch(tx, &cur, &out)
			if err != nil {
				return err
			}
			out.Batches++
			cur.Done = !more
			done, finished = out, cur.Done
			return saveProgress(ctx, tx, r.Delivery, cur, out)
		})
		if err != nil {
			return done, err
		}
		if finished {
			break
		}
		if time.Now().After(deadline) {
			return done, &ErrMoreWork{Done: done}
		}
	}
	return s.once(ctx, r.Delivery, func(tx pgx.Tx) (Outcome, error) {
		_, err := tx.Exec(ctx, `DELETE FROM cron_progress WHERE trigger = $1 AND delivery_id = $2`, r.Trigger, r.ID)
		return done, err
	})
}

// loadProgress locks the run's cursor row (creating it for a new run) and reads it, in one
// statement: the upsert's row lock is the lock concurrent deliveries of the run take turns on.
func loadProgress(ctx context.Context, tx pgx.Tx, d Delivery) (cronCursor, Outcome, error) {
	var cur cronCursor
	var out Outcome
	var rawCursor, rawOutcome []byte
	err := tx.QueryRow(ctx, `
		INSERT INTO cron_progress (trigger, delivery_id) VALUES ($1, $2)
		ON CONFLICT (trigger, delivery_id) DO UPDATE SET trigger = EXCLUDED.trigger
		RETURNING cursor, outcome`, d.Trigger, d.ID).Scan(&rawCursor, &rawOutcome)
	if err != nil {
		return cur, out, err
	}
	if err := json.Unmarshal(rawCursor, &cur); err != nil {
		return cur, out, fmt.Errorf("cron_progress cursor of %s/%s: %w", d.Trigger, d.ID, err)
	}
	if err := json.Unmarshal(rawOutcome, &out); err != nil {
		return cur, out, fmt.Errorf("cron_progress outcome of %s/%s: %w", d.Trigger, d.ID, err)
	}
	return cur, out, nil
}

func saveProgress(ctx context.Context, tx pgx.Tx, d Delivery, cur cronCursor, out Outcome) error {
	rawCursor, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	rawOutcome, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE cron_progress SET cursor = $3, outcome = $4, updated_at = now() WHERE trigger = $1 AND delivery_id = $2`,
		d.Trigger, d.ID, rawCursor, rawOutcome)
	return err
}

// ExpirePoints expires every lot past its expiry at the run's scheduled time, writing one
// expire entry per member per run. Members are taken in id order, a batch per transaction,
// in a constant number of statements whatever the batch's size (expireBatch).
func (s *Service) ExpirePoints(ctx context.Context, r CronRun) (out Outcome, err error) {
	defer func() {
		// Told once, when the run completes: its outcome is the whole run's.
		if err == nil && !out.Duplicate && out.Points != 0 {
			s.observer.Points(KindExpire, -out.Points)
		}
	}()
	cutoff := r.ScheduledTime.UTC()
	runKey := cutoff.Format(time.RFC3339)
	return s.runBatches(ctx, r, func(tx pgx.Tx, cur *cronCursor, out *Outcome) (bool, error) {
		// The batch: the next members in id order with a lot due, locked in that order as
		// they are found. The expiry below reads the lots in a statement of its own, so with
		// a snapshot taken after the locks.
		ids, err := lockBatch(ctx, tx, expireBatchSQL, cutoff, cur.after(), r.batchSize())
		if err != nil || len(ids) == 0 {
			return false, err
		}
		var members int
		var points int64
		entries := make([]string, len(ids))
		for i := range entries {
			entries[i] = newID()
		}
		if err := tx.QueryRow(ctx, expireSQL, ids, cutoff, runKey, s.clock(), entries).Scan(&members, &points); err != nil {
			return false, err
		}
		out.Members += members
		out.Points -= points
		cur.After = ids[len(ids)-1]
		return len(ids) == r.batchSize(), nil
	})
}

// lockBatch runs the query that picks and locks a cron batch and returns the ids it finds,
// in the same round trip as turning JIT compilation off for the rest of the transaction. The
// batch statements are short, but on tables the planner has no statistics for yet (after a
// bulk load, before autovacuum has analysed them) it may estimate them a thousand times
// dearer than they are, past jit_above_cost, and compiling them then costs more than running
// them (about 0.2 s a statement on the test machine).
func lockBatch(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]string, error) {
	b := &pgx.Batch{}
	b.Queue(`SET LOCAL jit = off`)
	var ids []string
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		var err error
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return ids, tx.SendBatch(ctx, b).Close()
}

// expireBatchSQL picks and locks the next batch ($3) of members after $2 in id order that
// have an open lot due at $1. The lot test is a scalar subquery with LIMIT, not EXISTS, so
// that the planner cannot turn it into a join that reads every due lot of the programme for
// each batch (which it did on tables not yet analysed, such as right after a bulk load): it
// stays one probe of point_lots_member_open_idx per member, and the run walks the members
// once.
const expireBatchSQL = `
	SELECT m.id FROM members m
	WHERE m.id > $2
	  AND (SELECT true FROM point_lots l WHERE l.member_id = m.id AND l.is_open AND l.expires_at <= $1 LIMIT 1)
	ORDER BY m.id LIMIT $3
	FOR NO KEY UPDATE OF m`

// expireSQL expires, for the locked members $1, every open lot due at $2, in one statement:
//   - due: per member, the points due and the lots holding them (a lateral aggregate, so one
//     index probe per member whatever the planner knows of the tables);
//   - posted: one expire entry per member, keyed by member and run ($3) as it always was, so
//     a retry, a replay or a run under another delivery id posts nothing twice (ON CONFLICT
//     DO NOTHING); balance_after is the locked balance less the points due; its id is the
//     member's of $5, made in Go as every id the programme writes (newID);
//   - only the members whose entry was written here have their due lots deleted and their
//     balance moved, so a skipped entry moves nothing. The lots go by the tuple ids due read
//     in this statement's snapshot (a TID scan: no random walk of the primary key for each
//     lot); every change of a lot is made under its member's lock, held here, so none of them
//     has moved since.
//
// An expired lot is deleted, not kept at remaining 0. Nothing reads a lot with nothing left
// (spending, refunds, reminders, the app and the liability report read open lots only) and it
// could not say what expired anyway (a lot at 0 may have been spent); the expire entry is the
// record. Emptying a lot in place costs a new row version and an entry in both unique indexes
// (the update leaves the open-lot indexes, so it cannot be HOT); a delete writes no index, and
// the night takes about a quarter of the time it took (docs/benchmarks.md). It also keeps
// point_lots to the lots of one validity period and those spent to nothing.
//
// Lots hold max(balance, 0): a member in debt has no open lot and is not in the batch, and
// for the others the points due are at most the balance, so balance_after >= 0.
const expireSQL = `
	WITH due AS (
		SELECT b.id AS member_id, b.entry_id, s.points, s.lots
		FROM unnest($1::uuid[], $5::uuid[]) AS b(id, entry_id)
		CROSS JOIN LATERAL (
			SELECT sum(l.remaining) AS points, array_agg(l.ctid) AS lots FROM point_lots l
			WHERE l.member_id = b.id AND l.is_open AND l.expires_at <= $2) s
		WHERE s.points > 0
	), posted AS (
		INSERT INTO point_transactions (id, member_id, kind, points, balance_after, reason, idempotency_key, created_at)
		SELECT d.entry_id, d.member_id, 'expire', -d.points, m.points_balance - d.points, 'points expired',
		       'expire:' || d.member_id || ':' || $3, $4
		FROM due d JOIN members m ON m.id = d.member_id
		ORDER BY d.member_id
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING member_id, points, balance_after
	), expired AS (
		DELETE FROM point_lots l
		WHERE l.ctid = ANY (ARRAY(SELECT unnest(d.lots) FROM due d JOIN posted p ON p.member_id = d.member_id))
	), moved AS (
		UPDATE members m SET points_balance = p.balance_after
		FROM posted p WHERE m.id = p.member_id
	)
	SELECT count(*), coalesce(-sum(points), 0) FROM posted`

// ExpireCoupons marks issued coupons past their expiry at the run's scheduled time expired.
func (s *Service) ExpireCoupons(ctx context.Context, r CronRun) (out Outcome, err error) {
	defer func() {
		if err == nil && !out.Duplicate && out.Coupons != 0 {
			s.observer.Coupons(CouponExpired, out.Coupons)
		}
	}()
	cutoff := r.ScheduledTime.UTC()
	return s.runBatches(ctx, r, func(tx pgx.Tx, _ *cronCursor, out *Outcome) (bool, error) {
		tag, err := tx.Exec(ctx, `
			UPDATE coupons SET status = 'expired'
			WHERE id IN (
				SELECT id FROM coupons WHERE status = 'issued' AND expires_at <= $1
				ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)`, cutoff, r.batchSize())
		if err != nil {
			return false, err
		}
		out.Coupons += int(tag.RowsAffected())
		return int(tag.RowsAffected()) == r.batchSize(), nil
	})
}
