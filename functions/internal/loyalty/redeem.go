package loyalty

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
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
	attempts := 0
	// A few of a member's redemptions at a time, in the order they came (s.redeemers).
	admitted, err := s.redeemers.Wait(ctx, memberID)
	if err != nil {
		return RedeemRewardOutput{}, err
	}
	defer admitted()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		issued = false
		attempts++
		// The first attempt locks the member only in its write (lateDebitMemberCTE), so that
		// one member's redemptions queue on its row for one statement each, not for a round
		// trip to Go and back; an attempt that finds the member moved meanwhile runs again,
		// then with the member locked from its first read.
		late := attempts == 1
		f, err := readRedemption(ctx, tx, memberID, in.RewardID, key, now, !late)
		if err != nil {
			return err
		}
		m, r := &f.Member, &f.Reward
		switch {
		case !f.HasMember || m.Deleted:
			return fail(CodeNotRegistered, "register as a member first")
		case f.First != nil:
			out = *f.First
			if f.FirstReward != in.RewardID {
				return invalid("idempotencyKey was already used for another reward")
			}
			return nil
		case !f.HasReward:
			return fail(CodeNotFound, "no reward %s", in.RewardID)
		case !r.Active || r.ActiveFrom != nil && now.Before(*r.ActiveFrom) || r.Until != nil && !now.Before(*r.Until):
			return fail(CodeRewardUnavailable, "%s is not available now", r.Name)
		case m.TierRank < r.MinTierRank:
			return fail(CodeTierTooLow, "%s needs a higher tier", r.Name)
		case r.PerMemberLimit != nil && f.LiveCoupons >= int(*r.PerMemberLimit):
			return fail(CodeLimitReached, "you already hold %d unused coupons of %s", f.LiveCoupons, r.Name)
		case m.Balance < r.Cost:
			return fail(CodeInsufficientPoints, "%s costs %d points; you have %d", r.Name, r.Cost, m.Balance)
		case r.Stock != nil && *r.Stock <= 0:
			// Read without the reward's lock: a stock taken to 0 after this read fails the
			// write (unless_raced), and the next attempt's read answers here.
			return fail(CodeOutOfStock, "%s is out of stock", r.Name)
		}
		res := RedeemRewardOutput{CouponID: newID(), CouponCode: NewCouponCode(), ExpiresAt: now.AddDate(0, 0, r.ValidDays),
			PointsSpent: r.Cost}
		e, err := planBalance(m, entry{Kind: KindRedeem, Points: -r.Cost, CouponID: &res.CouponID, Key: key, At: now, By: c.actor()})
		if err != nil {
			return err
		}
		args := e.args(0, nil)
		args["reward_id"], args["code"], args["expires"] = in.RewardID, res.CouponCode, res.ExpiresAt
		args["min_tier_rank"], args["per_member_limit"] = r.MinTierRank, r.PerMemberLimit
		// One round trip with the COMMIT: the coupon (issueCouponSQL); on the first attempt the
		// member's lock, and a limited reward's coupons counted again under it (a concurrent
		// redemption may have issued one); then the write.
		w := &pgx.Batch{}
		w.Queue(issueCouponSQL, args)
		if late {
			w.Queue(`SELECT 1 FROM members WHERE id = $1 FOR NO KEY UPDATE`, memberID)
			if r.PerMemberLimit != nil {
				w.Queue(recountLiveCouponsSQL, args)
			}
		}
		w.Queue(redeemSQL.text(r.Stock != nil), args).QueryRow(func(row pgx.Row) error { return row.Scan(&res.PointsBalance) })
		if err := database.CommitWith(ctx, tx, w); err != nil {
			return err
		}
		out, issued = res, true
		return nil
	})
	if err == nil && issued {
		s.observer.Points(KindRedeem, out.PointsSpent)
		s.observer.Coupons(CouponIssued, 1)
	}
	return out, err
}

// redemption is what redeemReward reads, in one round trip (after the member's lock, when
// lock is set): an earlier redemption under the same key, the reward, and the member's live
// coupons of it. Not the member's lots: the write chooses them (lateDebitEntryCTEs).
type redemption struct {
	Member      member
	HasMember   bool
	First       *RedeemRewardOutput
	FirstReward string
	Reward      struct {
		Name              string
		Cost              int64
		Stock             *int32
		PerMemberLimit    *int32
		MinTierRank       int
		ValidDays         int
		Active            bool
		ActiveFrom, Until *time.Time
	}
	HasReward   bool
	LiveCoupons int
}

func readRedemption(ctx context.Context, tx pgx.Tx, memberID, rewardID, key string, now time.Time, lock bool) (redemption, error) {
	var f redemption
	b := &pgx.Batch{}
	if lock {
		queueLockMember(b, `m.id = $1`, []any{memberID}, &f.Member, &f.HasMember)
	} else {
		queueMember(b, `m.id = $1`, []any{memberID}, &f.Member, &f.HasMember)
	}
	b.Queue(`
		SELECT c.id, c.code, c.expires_at, -t.points, t.balance_after, c.reward_id
		FROM point_transactions t JOIN coupons c ON c.id = t.coupon_id
		WHERE t.idempotency_key = $1`, key).QueryRow(func(row pgx.Row) error {
		var first RedeemRewardOutput
		err := row.Scan(&first.CouponID, &first.CouponCode, &first.ExpiresAt, &first.PointsSpent, &first.PointsBalance, &f.FirstReward)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		first.ExpiresAt = first.ExpiresAt.UTC()
		f.First = &first
		return err
	})
	r := &f.Reward
	b.Queue(`
		SELECT name, points_cost, stock, per_member_limit, min_tier_rank, coupon_valid_days, active, active_from, active_to
		FROM rewards WHERE id = $1`, rewardID).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&r.Name, &r.Cost, &r.Stock, &r.PerMemberLimit, &r.MinTierRank, &r.ValidDays, &r.Active, &r.ActiveFrom, &r.Until)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		f.HasReward = err == nil
		return err
	})
	b.Queue(countLiveCouponsSQL, memberID, rewardID, now).QueryRow(func(row pgx.Row) error { return row.Scan(&f.LiveCoupons) })
	return f, tx.SendBatch(ctx, b).Close()
}

// liveCoupons is the FROM and WHERE of the member's coupons of the reward that are issued and
// not expired at at (SQL expressions), the ones a per-member limit counts.
func liveCoupons(member, reward, at string) string {
	return `coupons WHERE member_id = ` + member + ` AND reward_id = ` + reward + ` AND status = 'issued' AND expires_at > ` + at
}

// countLiveCouponsSQL counts the member's ($1) live coupons of the reward ($2) at $3 as far
// as the reward's per-member limit (none: not at all), so a member's history of coupons of a
// reward costs nothing. recountLiveCouponsSQL fails (unless_raced) when they reach the limit,
// not counting the coupon being issued (issueCouponSQL inserted it before).
var (
	countLiveCouponsSQL = `SELECT count(*) FROM (SELECT 1 FROM ` + liveCoupons(`$1`, `$2`, `$3`) + `
		LIMIT coalesce((SELECT per_member_limit FROM rewards WHERE id = $2), 0)) live`
	recountLiveCouponsSQL = `SELECT unless_raced((SELECT count(*) FROM ` + liveCoupons(`@member_id::uuid`, `@reward_id::uuid`, `@at::timestamptz`) + `
		AND id <> @coupon_id::uuid) < @per_member_limit::int, 'a coupon of the reward')`
)

// issueCouponSQL inserts the redemption's coupon, first in the batch of its write: on a
// first attempt before the member's lock, so that the coupon's six indexes and its foreign
// keys' checks are not work that one member's redemptions do one after the other under the
// lock (one hot member from 64 callers: about a tenth more redemptions a second,
// docs/benchmarks.md). Inserting first locks nothing a write of a member waits for: the
// foreign keys take KEY SHARE locks on the member and the reward, which no write of either
// conflicts with (they take FOR NO KEY UPDATE), as an earn's order goes in before its
// member's lock. A code drawn twice inserts nothing and fails this statement (unless_raced,
// "the coupon code"), before the member's lock is taken; whatever fails after it rolls the
// coupon back with the transaction.
const issueCouponSQL = `WITH c AS (
		INSERT INTO coupons (id, code, member_id, reward_id, status, issued_at, expires_at)
		VALUES (@coupon_id::uuid, @code::text, @member_id::uuid, @reward_id::uuid, 'issued', @at::timestamptz, @expires::timestamptz)
		ON CONFLICT (code) DO NOTHING
		RETURNING 1)
	SELECT unless_raced(EXISTS (SELECT 1 FROM c), 'the coupon code')`

// redeemSQL pays for the coupon issueCouponSQL inserted in the same transaction, for a
// member locked before it (by the attempt's read, or on a first attempt by the statement
// before it in the same batch): the balance and the lots move by the reward's cost as they
// are now (lateDebitMemberCTE, lateDebitEntryCTEs), so the write is right whether Go read
// them under the lock or not; one from stock when the reward has a stock (the conditional
// update is the stock guard: it waits for concurrent redeemers and re-reads stock, so a
// reward never issues more than it had); the redeem entry. Whatever Go decided on that no
// longer holds (the balance, the tier, the stock, the key taken meanwhile) fails the
// statement with unless_raced, and the attempt that runs next reads
// under the lock and answers. It answers the balance after the redemption.
var redeemSQL = newBuiltSQL(func(stocked bool) string {
	stock := `SELECT @reward_id::uuid AS id`
	if stocked {
		stock = `UPDATE rewards SET stock = stock - 1 WHERE id = @reward_id::uuid AND stock > 0 AND EXISTS (SELECT 1 FROM u) RETURNING id`
	}
	return `WITH ` + lateDebitMemberCTE(`(SELECT rank FROM tiers WHERE id = members.tier_id) >= @min_tier_rank::int`) + `,
	s AS (` + stock + `),
	` + lateDebitEntryCTEs("EXISTS (SELECT 1 FROM s)") + `
	SELECT (SELECT balance_after FROM t)
	WHERE unless_raced(EXISTS (SELECT 1 FROM s), 'the reward stock')
	  AND ` + lateDebitChecks
})
