package loyalty

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
)

// Delivery identifies one event or cron delivery from Hasura: every redelivery of the same
// event carries the same ID.
type Delivery struct {
	Trigger string
	ID      string
}

// Outcome is what a trigger handler did; Hasura keeps it in its invocation log.
type Outcome struct {
	// Duplicate: this delivery was applied before; nothing was done now.
	Duplicate bool   `json:"duplicate"`
	Skipped   string `json:"skipped,omitempty"` // why a valid event needed no effect
	Points    int64  `json:"points,omitempty"`
	Members   int    `json:"members,omitempty"`
	Coupons   int    `json:"coupons,omitempty"`
	Batches   int    `json:"batches,omitempty"`
	// Deliveries is how many old delivery records housekeeping pruned.
	Deliveries int `json:"deliveries,omitempty"`
	// QRUses and CronCursors are how many used member QR tokens and finished cron runs'
	// cursors housekeeping pruned.
	QRUses      int `json:"qrUses,omitempty"`
	CronCursors int `json:"cronCursors,omitempty"`
}

// claimDelivery records d in tx. ok is false when d was recorded before (its first outcome
// is returned): the caller then does nothing. A concurrent duplicate waits here until the
// first commits (then sees it) or rolls back (then proceeds). reads, when set, queues the
// effect's reads in the same round trip, after the claim (wasted only on a duplicate).
func claimDelivery(ctx context.Context, tx pgx.Tx, d Delivery, reads func(*pgx.Batch)) (first Outcome, ok bool, err error) {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO trigger_deliveries (trigger, delivery_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, d.Trigger, d.ID).
		Exec(func(tag pgconn.CommandTag) error {
			ok = tag.RowsAffected() == 1
			return nil
		})
	if reads != nil {
		reads(b)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil || ok {
		return first, ok, err
	}
	var raw []byte
	if err := tx.QueryRow(ctx, `SELECT result FROM trigger_deliveries WHERE trigger = $1 AND delivery_id = $2`, d.Trigger, d.ID).Scan(&raw); err != nil {
		return first, false, err
	}
	_ = json.Unmarshal(raw, &first)
	first.Duplicate = true
	return first, false, nil
}

// queueFinishDelivery queues on b the storing of what the delivery did and the marking of
// earlier failures of it as resolved.
func queueFinishDelivery(b *pgx.Batch, d Delivery, out Outcome) error {
	raw, err := json.Marshal(out)
	if err != nil {
		return err
	}
	b.Queue(`UPDATE trigger_deliveries SET result = $3 WHERE trigger = $1 AND delivery_id = $2`, d.Trigger, d.ID, raw)
	b.Queue(`UPDATE trigger_failures SET resolved_at = now() WHERE trigger = $1 AND delivery_id = $2 AND resolved_at IS NULL`, d.Trigger, d.ID)
	return nil
}

// once runs effect in one transaction with the delivery's record, so the effect happens once
// however often, and however concurrently, Hasura delivers d.
func (s *Service) once(ctx context.Context, d Delivery, effect func(pgx.Tx) (Outcome, error)) (Outcome, error) {
	return s.onceReading(ctx, d, nil, func(tx pgx.Tx, _ *pgx.Batch) (Outcome, error) { return effect(tx) })
}

// onceReading is once with the effect's first reads queued by reads into the round trip that
// claims the delivery; they have run when effect starts. What effect queues on last goes to
// PostgreSQL after it returns, with the delivery's outcome and the COMMIT, in one round trip:
// statements whose answers decide nothing (see database.CommitWith).
func (s *Service) onceReading(ctx context.Context, d Delivery, reads func(*pgx.Batch), effect func(tx pgx.Tx, last *pgx.Batch) (Outcome, error)) (Outcome, error) {
	if d.ID == "" {
		return Outcome{}, errors.New("delivery without an id")
	}
	var out Outcome
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		first, ok, err := claimDelivery(ctx, tx, d, reads)
		if err != nil || !ok {
			out = first
			return err
		}
		last := &pgx.Batch{}
		if out, err = effect(tx, last); err != nil {
			return err
		}
		if err := queueFinishDelivery(last, d, out); err != nil {
			return err
		}
		return database.CommitWith(ctx, tx, last)
	})
	return out, err
}
