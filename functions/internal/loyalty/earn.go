package loyalty

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// EarnPoints credits a paid receipt to a member, at the counter. The same (store, receipt)
// and amount again returns the first result with Duplicate true; another amount is
// receipt_conflict. The order is recorded in orders, so order_paid credits nothing twice.
func (s *Service) EarnPoints(ctx context.Context, c Caller, in EarnPointsInput) (EarnPointsOutput, error) {
	if err := requireRole(c, RoleStaff, RoleAdmin); err != nil {
		return EarnPointsOutput{}, err
	}
	var v checks
	v.uuid("storeId", &in.StoreID)
	v.receiptNo(&in.ReceiptNo)
	v.that(in.Amount > 0, "amount must be positive")
	v.int32Range("amount", in.Amount)
	hasQR := in.MemberQRToken != nil && *in.MemberQRToken != ""
	hasCode := in.MemberCode != nil && *in.MemberCode != ""
	v.that(hasQR != hasCode, "give exactly one of memberQrToken and memberCode")
	if hasCode {
		v.that(ValidMemberCode(*in.MemberCode), "memberCode is not a valid member code")
	}
	if err := v.result(); err != nil {
		return EarnPointsOutput{}, err
	}
	now := s.clock()
	var memberID string
	var qr MemberQR
	if hasQR {
		if s.qr == nil {
			return EarnPointsOutput{}, fail(CodeQRInvalid, "member QR codes are not enabled here (MEMBER_QR_SECRET is not set): use the member code")
		}
	}
	var out EarnPointsOutput
	var st Settings
	missed := false // the member code named no member
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		missed = false
		if err := authorizeStore(ctx, tx, c, in.StoreID, Crew); err != nil {
			return err
		}
		var err error
		if st, err = loadSettings(ctx, tx); err != nil {
			return err
		}
		if hasQR {
			// Read here, where qr_token_ttl_seconds is known: it bounds the token's lifetime.
			if qr, err = s.qr.VerifyMemberQR(*in.MemberQRToken, now, time.Duration(st.QRTokenTTLSeconds)*time.Second); err != nil {
				return err
			}
			memberID = qr.MemberID
		}
		if in.Amount > st.MaxOrderAmount {
			return fail(CodeOrderOverLimit, "amount %d is above the limit of %d", in.Amount, st.MaxOrderAmount)
		}
		if hasCode {
			if memberID, err = memberByCode(ctx, tx, c, *in.MemberCode, st, now); err != nil {
				missed = isCode(err, CodeNotFound)
				return err
			}
		}
		if hasQR {
			// Before the order names them: a member the token names must exist and be active.
			if err := tx.QueryRow(ctx, `SELECT id FROM members WHERE id = $1 AND deleted_at IS NULL`, memberID).Scan(&memberID); errors.Is(err, pgx.ErrNoRows) {
				return fail(CodeNotFound, "no member with that QR token")
			} else if err != nil {
				return err
			}
		}
		o, err := claimOrder(ctx, tx, in, memberID, now)
		if err != nil {
			return err
		}
		if hasQR {
			if err := useMemberQR(ctx, tx, qr, o.ID, now); err != nil {
				return err
			}
		}
		m, ok, err := lockMember(ctx, tx, memberID)
		if err != nil {
			return err
		}
		if !ok || m.Deleted {
			return fail(CodeNotFound, "no such member")
		}
		res, err := creditOrder(ctx, tx, &m, o, st, now, c.actor())
		if err != nil {
			return err
		}
		out = EarnPointsOutput{TransactionID: res.TransactionID, MemberID: m.ID, PointsEarned: res.Points,
			PointsBalance: res.BalanceAfter, TierID: m.TierID, Duplicate: res.Duplicate, CampaignIDs: res.CampaignIDs}
		return nil
	})
	if err == nil && !out.Duplicate {
		s.observer.Points(KindEarn, out.PointsEarned)
	}
	if missed {
		// Counted outside the refused transaction, which rolled back.
		if rerr := s.inTx(ctx, func(tx pgx.Tx) error { return recordLookupMiss(ctx, tx, c, st, now) }); rerr != nil {
			return out, rerr
		}
	}
	return out, err
}

// memberByCode finds the active member a member code names, refusing first a caller who
// named too many unknown codes lately (the answers tell whether a code exists, so unlimited
// tries would let anyone enumerate members). One statement: this is on every counter earn.
func memberByCode(ctx context.Context, tx pgx.Tx, c Caller, code string, st Settings, now time.Time) (string, error) {
	var id *string
	var misses int
	err := tx.QueryRow(ctx, `
		SELECT (SELECT id FROM members WHERE member_code = $1 AND deleted_at IS NULL),
		       (SELECT count(*) FROM member_lookup_misses WHERE user_id = $2 AND missed_at > $3)`,
		code, c.actor(), now.Add(-st.MemberLookupMissWindow)).Scan(&id, &misses)
	switch {
	case err != nil:
		return "", err
	case misses >= st.MemberLookupMissLimit:
		return "", fail(CodeForbidden, "too many unknown member codes from this account: wait %s, then try again", st.MemberLookupMissWindow)
	case id == nil:
		return "", fail(CodeNotFound, "no member with that member code")
	}
	return *id, nil
}

// recordLookupMiss counts one unknown member code against the caller, and forgets their
// misses that fell out of the window, so the table stays as small as the active callers.
func recordLookupMiss(ctx context.Context, tx pgx.Tx, c Caller, st Settings, now time.Time) error {
	who := c.actor()
	if who == nil {
		return nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM member_lookup_misses WHERE user_id = $1 AND missed_at <= $2`, *who, now.Add(-st.MemberLookupMissWindow)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO member_lookup_misses (user_id, missed_at) VALUES ($1, $2)`, *who, now)
	return err
}

// isCode tells whether err is a refusal with code.
func isCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// claimOrder records the receipt for the member, or finds it: the same amount and member (or
// no member yet) is the same order; anything else is receipt_conflict. It returns the order
// as it stands for the member, locked.
func claimOrder(ctx context.Context, tx pgx.Tx, in EarnPointsInput, memberID string, now time.Time) (order, error) {
	o := order{StoreID: in.StoreID, MemberID: &memberID, Amount: in.Amount, Status: "paid", PaidAt: now}
	err := tx.QueryRow(ctx, `
		INSERT INTO orders (store_id, receipt_no, member_id, amount, status, paid_at)
		VALUES ($1, $2, $3, $4, 'paid', $5)
		ON CONFLICT (store_id, receipt_no) DO NOTHING
		RETURNING id`, in.StoreID, in.ReceiptNo, memberID, in.Amount, now).Scan(&o.ID)
	if err == nil {
		return o, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return o, err
	}
	err = tx.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE store_id = $1 AND receipt_no = $2 FOR UPDATE`,
		in.StoreID, in.ReceiptNo).Scan(o.fields()...)
	if err != nil {
		return o, err
	}
	switch {
	case o.Amount != in.Amount:
		return o, fail(CodeReceiptConflict, "receipt %s was recorded with another amount", in.ReceiptNo)
	case o.MemberID != nil && *o.MemberID != memberID:
		return o, fail(CodeReceiptConflict, "receipt %s was credited to another member", in.ReceiptNo)
	case o.Status == "refunded":
		return o, fail(CodeReceiptConflict, "receipt %s was refunded", in.ReceiptNo)
	case o.Status == "pending":
		// Only the POS (and then order_paid) may mark an order paid: the counter cannot.
		return o, fail(CodeReceiptConflict, "receipt %s is not paid yet", in.ReceiptNo)
	case o.MemberID == nil:
		// A POS wrote the paid order without a member: the counter names them.
		_, err = tx.Exec(ctx, `UPDATE orders SET member_id = $2 WHERE id = $1`, o.ID, memberID)
		o.MemberID = &memberID
	}
	return o, err
}

// useMemberQR records that the QR token qr credited order orderID. A token serves one
// receipt: the same token on the same receipt again is a retry of that earn; on another
// receipt it is qr_invalid (a screenshot of a card passed around, or a cashier scanning the
// same phone twice).
func useMemberQR(ctx context.Context, tx pgx.Tx, qr MemberQR, orderID string, now time.Time) error {
	tag, err := tx.Exec(ctx, `
		INSERT INTO member_qr_uses (token_id, member_id, order_id, used_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (token_id) DO NOTHING`, qr.TokenID, qr.MemberID, orderID, now)
	if err != nil || tag.RowsAffected() == 1 {
		return err
	}
	var first string
	if err := tx.QueryRow(ctx, `SELECT order_id FROM member_qr_uses WHERE token_id = $1`, qr.TokenID).Scan(&first); err != nil {
		return err
	}
	if first != orderID {
		return fail(CodeQRInvalid, "this QR code was already used for another receipt: ask the member to refresh their card")
	}
	return nil
}

// credited is the earn entry of an order.
type credited struct {
	TransactionID string
	Points        int64
	BalanceAfter  int64
	Duplicate     bool
	CampaignIDs   []string
}

// creditOrder posts the earn entry of order o for the locked member, once per order
// whichever path (earnPoints or order_paid) gets there first, with the campaigns that match
// the order at its paid_at (the member's tier as it was before this order) in the same one
// entry. A refund a POS recorded before the order was credited is reversed in the same
// transaction, and only then is the tier checked, so an upgrade sees the net points. The
// member's first qualifying order settles their referral. BalanceAfter is the balance after
// all of it.
func creditOrder(ctx context.Context, tx pgx.Tx, m *member, o order, st Settings, now time.Time, by *string) (credited, error) {
	key := "earn:" + o.ID
	campaigns, err := matchingCampaigns(ctx, tx, OrderFacts{StoreID: o.StoreID, PaidAt: o.PaidAt, Amount: o.Amount, TierRank: m.TierRank}, st)
	if err != nil {
		return credited{}, err
	}
	points, applied := ApplyCampaigns(BasePoints(o.Amount, st), m.MultiplierPct, campaigns)
	p, err := post(ctx, tx, m, entry{Kind: KindEarn, Points: points, OrderID: &o.ID, StoreID: &o.StoreID, Key: key, At: now, CampaignIDs: applied, By: by}, st.PointsValidityDays)
	if errors.Is(err, errDuplicate) {
		var first credited
		err = tx.QueryRow(ctx, `SELECT id, points, balance_after, campaign_ids::text[] FROM point_transactions WHERE idempotency_key = $1`, key).
			Scan(&first.TransactionID, &first.Points, &first.BalanceAfter, &first.CampaignIDs)
		first.Duplicate = true
		return first, err
	}
	if err != nil {
		return credited{}, err
	}
	if o.RefundedAmount > 0 {
		if _, err := reverseFor(ctx, tx, m, o, earnEntry{ID: p.ID, Points: points}, nil, now, by); err != nil {
			return credited{}, err
		}
	}
	if err := upgradeTier(ctx, tx, m, now); err != nil {
		return credited{}, err
	}
	if err := settleReferral(ctx, tx, m, o, st, now); err != nil {
		return credited{}, err
	}
	return credited{TransactionID: p.ID, Points: points, BalanceAfter: m.Balance, CampaignIDs: applied}, nil
}
