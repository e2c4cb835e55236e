package loyalty

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// RedeemReward spends the caller's points on a reward and issues a coupon. A repeat with the
// same idempotencyKey returns the same coupon and spends nothing.
func (s *Service) RedeemReward(ctx context.Context, c Caller, in RedeemRewardInput) (RedeemRewardOutput, error) {
	memberID, err := c.memberID()
	if err != nil {
		return RedeemRewardOutput{}, err
	}
	var v checks
	v.uuid("rewardId", &in.RewardID)
	v.text("idempotencyKey", in.IdempotencyKey, 200)
	if err := v.result(); err != nil {
		return RedeemRewardOutput{}, err
	}
	key := "redeem:" + memberID + ":" + in.IdempotencyKey
	now := s.clock()
	var out RedeemRewardOutput
	issued := false // this call issued the coupon (not a repeat of an earlier one)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		m, err := activeMember(ctx, tx, memberID)
		if err != nil {
			return err
		}
		issued = false
		if first, found, err := redemptionByKey(ctx, tx, key, in.RewardID); found || err != nil {
			out = first
			return err
		}
		var r struct {
			Name              string
			Cost              int64
			Stock             *int32
			PerMemberLimit    *int32
			MinTierRank       int
			ValidDays         int
			Active            bool
			ActiveFrom, Until *time.Time
		}
		err = tx.QueryRow(ctx, `
			SELECT name, points_cost, stock, per_member_limit, min_tier_rank, coupon_valid_days, active, active_from, active_to
			FROM rewards WHERE id = $1`, in.RewardID).Scan(
			&r.Name, &r.Cost, &r.Stock, &r.PerMemberLimit, &r.MinTierRank, &r.ValidDays, &r.Active, &r.ActiveFrom, &r.Until)
		if errors.Is(err, pgx.ErrNoRows) {
			return fail(CodeNotFound, "no reward %s", in.RewardID)
		}
		if err != nil {
			return err
		}
		switch {
		case !r.Active || r.ActiveFrom != nil && now.Before(*r.ActiveFrom) || r.Until != nil && !now.Before(*r.Until):
			return fail(CodeRewardUnavailable, "%s is not available now", r.Name)
		case m.TierRank < r.MinTierRank:
			return fail(CodeTierTooLow, "%s needs a higher tier", r.Name)
		}
		if r.PerMemberLimit != nil {
			var live int
			err := tx.QueryRow(ctx, `SELECT count(*) FROM coupons WHERE member_id = $1 AND reward_id = $2 AND status = 'issued' AND expires_at > $3`,
				memberID, in.RewardID, now).Scan(&live)
			if err != nil {
				return err
			}
			if live >= int(*r.PerMemberLimit) {
				return fail(CodeLimitReached, "you already hold %d unused coupons of %s", live, r.Name)
			}
		}
		if m.Balance < r.Cost {
			return fail(CodeInsufficientPoints, "%s costs %d points; you have %d", r.Name, r.Cost, m.Balance)
		}
		if r.Stock != nil {
			// The conditional update is the stock guard: it waits for concurrent redeemers and
			// re-reads stock, so a reward never issues more than it had.
			tag, err := tx.Exec(ctx, `UPDATE rewards SET stock = stock - 1 WHERE id = $1 AND stock > 0`, in.RewardID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fail(CodeOutOfStock, "%s is out of stock", r.Name)
			}
		}
		couponID, code, expires, err := issueCoupon(ctx, tx, memberID, in.RewardID, now, r.ValidDays)
		if err != nil {
			return err
		}
		p, err := post(ctx, tx, &m, entry{Kind: KindRedeem, Points: -r.Cost, CouponID: &couponID, Key: key, At: now, By: c.actor()}, 0)
		if err != nil {
			return err
		}
		out = RedeemRewardOutput{CouponID: couponID, CouponCode: code, ExpiresAt: expires, PointsSpent: r.Cost, PointsBalance: p.BalanceAfter}
		issued = true
		return nil
	})
	if err == nil && issued {
		s.observer.Points(KindRedeem, out.PointsSpent)
		s.observer.Coupons(CouponIssued, 1)
	}
	return out, err
}

// redemptionByKey returns the result of an earlier redemption with the same key.
func redemptionByKey(ctx context.Context, tx pgx.Tx, key, rewardID string) (RedeemRewardOutput, bool, error) {
	var out RedeemRewardOutput
	var firstReward string
	err := tx.QueryRow(ctx, `
		SELECT c.id, c.code, c.expires_at, -t.points, t.balance_after, c.reward_id
		FROM point_transactions t JOIN coupons c ON c.id = t.coupon_id
		WHERE t.idempotency_key = $1`, key).Scan(&out.CouponID, &out.CouponCode, &out.ExpiresAt, &out.PointsSpent, &out.PointsBalance, &firstReward)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, false, nil
	}
	if err != nil {
		return out, false, err
	}
	if firstReward != rewardID {
		return out, true, invalid("idempotencyKey was already used for another reward")
	}
	out.ExpiresAt = out.ExpiresAt.UTC()
	return out, true, nil
}

// issueCoupon inserts a coupon under a fresh code, drawing again on the rare collision.
func issueCoupon(ctx context.Context, tx pgx.Tx, memberID, rewardID string, now time.Time, validDays int) (id, code string, expires time.Time, err error) {
	expires = now.AddDate(0, 0, validDays)
	for attempt := 0; attempt < 5; attempt++ {
		code = NewCouponCode()
		err = tx.QueryRow(ctx, `
			INSERT INTO coupons (code, member_id, reward_id, status, issued_at, expires_at)
			VALUES ($1, $2, $3, 'issued', $4, $5)
			ON CONFLICT (code) DO NOTHING RETURNING id`, code, memberID, rewardID, now, expires).Scan(&id)
		if !errors.Is(err, pgx.ErrNoRows) {
			return id, code, expires, err
		}
	}
	return "", "", time.Time{}, errors.New("could not draw a free coupon code in 5 attempts")
}
