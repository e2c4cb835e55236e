package loyalty

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
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
		m, ok, err := lockMember(ctx, tx, in.MemberID)
		if err != nil {
			return err
		}
		if !ok {
			return fail(CodeNotFound, "no member %s", in.MemberID)
		}
		var firstMember string
		var firstPoints int64
		err = tx.QueryRow(ctx, `SELECT id, balance_after, member_id, points FROM point_transactions WHERE idempotency_key = $1`, key).
			Scan(&out.TransactionID, &out.PointsBalance, &firstMember, &firstPoints)
		if err == nil {
			if firstMember != in.MemberID || firstPoints != in.Points {
				return invalid("idempotencyKey was already used for another adjustment")
			}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if m.Deleted {
			return fail(CodeNotFound, "member %s was deleted", in.MemberID)
		}
		if m.Balance+in.Points < 0 {
			return fail(CodeInsufficientPoints, "the balance is %d; it cannot go below zero", m.Balance)
		}
		st, err := loadSettings(ctx, tx)
		if err != nil {
			return err
		}
		reason := in.Reason
		p, err := post(ctx, tx, &m, entry{Kind: KindAdjust, Points: in.Points, Reason: &reason, Key: key, At: now, By: c.actor()}, st.PointsValidityDays)
		if err != nil {
			return err
		}
		out = AdjustPointsOutput{TransactionID: p.ID, PointsBalance: p.BalanceAfter}
		return nil
	})
	return out, err
}
