package loyalty

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
)

// UseCoupon marks a member's coupon used at the counter of a store.
func (s *Service) UseCoupon(ctx context.Context, c Caller, in UseCouponInput) (UseCouponOutput, error) {
	if err := requireRole(c, RoleStaff, RoleAdmin); err != nil {
		return UseCouponOutput{}, err
	}
	code := NormalizeCouponCode(in.CouponCode)
	var v checks
	v.uuid("storeId", &in.StoreID)
	v.text("couponCode", code, CouponCodeLength)
	if err := v.result(); err != nil {
		return UseCouponOutput{}, err
	}
	now := s.clock()
	var out UseCouponOutput
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var access storeAccess
		var status string
		var expires time.Time
		var usedAt *time.Time
		var onlyStore *string
		found := false
		b := &pgx.Batch{}
		b.Queue(storeAccessSQL, in.StoreID, c.actor()).QueryRow(access.scan)
		b.Queue(`
			SELECT c.id, c.reward_id, r.name, c.member_id, c.status, c.expires_at, c.used_at, r.store_id
			FROM coupons c JOIN rewards r ON r.id = c.reward_id
			WHERE c.code = $1
			FOR UPDATE OF c`, code).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&out.CouponID, &out.RewardID, &out.RewardName, &out.MemberID, &status, &expires, &usedAt, &onlyStore)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			found = err == nil
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if err := access.check(c, in.StoreID, Crew); err != nil {
			return err
		}
		if !found {
			return fail(CodeNotFound, "no coupon %s", code)
		}
		switch {
		case status == "used":
			return fail(CodeCouponUsed, "coupon %s was used at %s", code, usedAt.UTC().Format(time.RFC3339))
		case status == "cancelled":
			return fail(CodeCouponExpired, "coupon %s was cancelled", code)
		case status == "expired" || !now.Before(expires):
			return fail(CodeCouponExpired, "coupon %s expired at %s", code, expires.UTC().Format(time.RFC3339))
		case onlyStore != nil && *onlyStore != in.StoreID:
			return fail(CodeCouponWrongStore, "coupon %s is only honoured at another store", code)
		}
		// The coupon is locked: the update cannot lose a race, and goes with the COMMIT.
		w := &pgx.Batch{}
		w.Queue(`UPDATE coupons SET status = 'used', used_at = $2, used_store_id = $3, used_by = $4 WHERE id = $1`, out.CouponID, now, in.StoreID, c.actor())
		out.UsedAt = now
		return database.CommitWith(ctx, tx, w)
	})
	if err == nil {
		s.observer.Coupons(CouponUsed, 1)
	}
	return out, err
}
