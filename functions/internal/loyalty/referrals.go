package loyalty

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReasonReferral is the reason of both referral bonus entries.
const ReasonReferral = "referral"

// referralDue tells whether order o settles m's referral: m was referred, the referral is not
// settled yet, and o is large enough.
func referralDue(m *member, o order, st Settings) bool {
	return m.ReferredBy != nil && !m.ReferralPaid && o.Amount >= st.ReferralMinAmount
}

// settleReferral pays the referral of the locked member m (the referee) when o, just credited,
// is their first order of at least referral_min_amount: referee_bonus_points to them and
// referral_bonus_points to the referrer, each one bonus entry, once per referee. The referee's
// row records the order that settled it, under the referee's lock, so neither path nor any
// delivery can settle it twice. A referrer past referral_yearly_limit referrals paid this
// calendar year (programme time zone), or deleted, gets nothing; the referee still gets theirs.
// Refunds do not take either bonus back.
func settleReferral(ctx context.Context, tx pgx.Tx, m *member, o order, st Settings, now time.Time) error {
	if !referralDue(m, o, st) {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE members SET referral_order_id = $2 WHERE id = $1 AND referral_order_id IS NULL`, m.ID, o.ID); err != nil {
		return err
	}
	m.ReferralPaid = true
	reason := ReasonReferral
	if st.RefereeBonusPoints > 0 {
		_, err := post(ctx, tx, m, entry{Kind: KindBonus, Points: st.RefereeBonusPoints, Reason: &reason,
			Key: "referral:referee:" + m.ID, At: now}, st.PointsValidityDays)
		if err != nil && !errors.Is(err, errDuplicate) {
			return err
		}
	}
	if st.ReferralBonusPoints == 0 {
		return nil
	}
	// Locks go referee then referrer; a referrer always registered before the referee, so
	// two settlements never wait on each other in a circle.
	referrer, ok, err := lockMember(ctx, tx, *m.ReferredBy)
	if err != nil || !ok || referrer.Deleted {
		return err
	}
	if st.ReferralYearlyLimit != nil {
		paid, err := referralsPaidInYear(ctx, tx, referrer.ID, st, now)
		if err != nil {
			return err
		}
		if paid >= int64(*st.ReferralYearlyLimit) {
			return nil
		}
	}
	_, err = post(ctx, tx, &referrer, entry{Kind: KindBonus, Points: st.ReferralBonusPoints, Reason: &reason,
		Key: "referral:referrer:" + m.ID, At: now}, st.PointsValidityDays)
	if errors.Is(err, errDuplicate) {
		return nil
	}
	return err
}

// referralsPaidInYear counts the referral bonuses the referrer was paid in the calendar year
// of now, in the programme's time zone. Read under the referrer's lock, so concurrent
// settlements for one referrer count each other.
func referralsPaidInYear(ctx context.Context, tx pgx.Tx, referrerID string, st Settings, now time.Time) (int64, error) {
	loc, err := st.Location()
	if err != nil {
		return 0, err
	}
	start := time.Date(now.In(loc).Year(), time.January, 1, 0, 0, 0, 0, loc)
	var n int64
	err = tx.QueryRow(ctx, `
		SELECT count(*) FROM point_transactions
		WHERE member_id = $1 AND kind = 'bonus' AND idempotency_key LIKE 'referral:referrer:%'
		  AND created_at >= $2 AND created_at < $3`, referrerID, start, start.AddDate(1, 0, 0)).Scan(&n)
	return n, err
}

// referrer resolves a referral code given at registration to the referring member: an unknown
// code, a deleted member's, or the registering member's own is referral_invalid.
func referrer(ctx context.Context, tx pgx.Tx, code, registering string) (*string, error) {
	normalized := NormalizeCouponCode(code)
	if !validCode(normalized) {
		return nil, fail(CodeReferralInvalid, "%q is not a referral code", code)
	}
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM members WHERE referral_code = $1 AND deleted_at IS NULL`, normalized).Scan(&id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fail(CodeReferralInvalid, "no member has the referral code %s", normalized)
	case err != nil:
		return nil, err
	case id == registering:
		return nil, fail(CodeReferralInvalid, "a member cannot refer themselves")
	}
	return &id, nil
}

// validCode tells whether s is CouponCodeLength characters of CouponAlphabet (coupon and
// referral codes share the form).
func validCode(s string) bool {
	if len(s) != CouponCodeLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(CouponAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}
