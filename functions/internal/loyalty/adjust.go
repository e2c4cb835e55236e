package loyalty

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
)

// AdjustPoints is an operator's correction: a positive adjustment opens a lot, a negative one
// takes from the lots that expire first and may not take the balance below zero.
func (s *Service) AdjustPoints(ctx context.Context, c Caller, in AdjustPointsInput) (AdjustPointsOutput, error) {
	if err := requireRole(c, RoleAdmin); err != nil {
		return AdjustPointsOutput{}, err
	}
	var v checks
	v.uuid("memberId", &in.MemberID)
	v.that(in.Points != 0, "points must not be zero")
	v.int32Range("points", in.Points)
	v.text("reason", in.Reason, 500)
	v.text("idempotencyKey", in.IdempotencyKey, 200)
	if err := v.result(); err != nil {
		return AdjustPointsOutput{}, err
	}
	key := "adjust:" + in.IdempotencyKey
	now := s.clock()
	var out AdjustPointsOutput
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// One round trip: the member locked, then (under the lock) an earlier adjustment under
		// the key, the settings and the lots a debit takes from.
		var m member
		var found bool
		var first *AdjustPointsOutput
		var firstMember string
		var firstPoints int64
		var st Settings
		var lots []Lot
		b := &pgx.Batch{}
		queueLockMember(b, `m.id = $1`, []any{in.MemberID}, &m, &found)
		b.Queue(`SELECT id, balance_after, member_id, points FROM point_transactions WHERE idempotency_key = $1`, key).
			QueryRow(func(row pgx.Row) error {
				var o AdjustPointsOutput
				err := row.Scan(&o.TransactionID, &o.PointsBalance, &firstMember, &firstPoints)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				first = &o
				return err
			})
		queueSettings(b, &st)
		b.Queue(openLotsSQL, in.MemberID).Query(func(rows pgx.Rows) error {
			var err error
			lots, err = pgx.CollectRows(rows, scanLot)
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		switch {
		case !found:
			return fail(CodeNotFound, "no member %s", in.MemberID)
		case first != nil:
			if firstMember != in.MemberID || firstPoints != in.Points {
				return invalid("idempotencyKey was already used for another adjustment")
			}
			out = *first
			return nil
		case m.Deleted:
			return fail(CodeNotFound, "member %s was deleted", in.MemberID)
		case m.Balance+in.Points < 0:
			return fail(CodeInsufficientPoints, "the balance is %d; it cannot go below zero", m.Balance)
		}
		reason := in.Reason
		e, err := planEntry(&m, entry{Kind: KindAdjust, Points: in.Points, Reason: &reason, Key: key, At: now, By: c.actor()},
			lots)
		if err != nil {
			return err
		}
		w := &pgx.Batch{}
		w.Queue(postLastSQL, e.args(st.PointsValidityDays, nil))
		if err := database.CommitWith(ctx, tx, w); err != nil {
			return err
		}
		out = AdjustPointsOutput{TransactionID: e.ID, PointsBalance: e.After}
		return nil
	})
	return out, err
}
