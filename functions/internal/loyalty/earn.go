package loyalty

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
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
	var qrToken MemberQR // as far as the token can be read before the settings bound its lifetime
	var qrErr error
	if hasQR {
		if s.qr == nil {
			return EarnPointsOutput{}, fail(CodeQRInvalid, "member QR codes are not enabled here (MEMBER_QR_SECRET is not set): use the member code")
		}
		qrToken, qrErr = s.qr.VerifyMemberQR(*in.MemberQRToken, now, unboundedLifetime)
	}
	var out EarnPointsOutput
	var st Settings
	missed := false // the member code named no member
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		missed = false
		r, err := readEarn(ctx, tx, c, in, qrToken, qrErr, now)
		if err != nil {
			return err
		}
		f := &r.creditFacts
		st = f.Settings
		if err := r.access.check(c, in.StoreID, Crew); err != nil {
			return err
		}
		var qr *MemberQR
		if hasQR {
			// Checked again now that qr_token_ttl_seconds, which bounds its lifetime, is known.
			t, err := s.qr.VerifyMemberQR(*in.MemberQRToken, now, time.Duration(st.QRTokenTTLSeconds)*time.Second)
			if err != nil {
				return err
			}
			qr = &t
		}
		if in.Amount > st.MaxOrderAmount {
			return fail(CodeOrderOverLimit, "amount %d is above the limit of %d", in.Amount, st.MaxOrderAmount)
		}
		switch {
		case hasCode && r.misses >= st.MemberLookupMissLimit:
			return fail(CodeForbidden, "too many unknown member codes from this account: wait %s, then try again", st.MemberLookupMissWindow)
		case hasCode && !f.HasMember:
			missed = true
			return fail(CodeNotFound, "no member with that member code")
		case hasQR && (!f.HasMember || f.Member.Deleted):
			return fail(CodeNotFound, "no member with that QR token")
		}
		m := &f.Member
		o, w, err := earnOrder(f, in, m.ID, now)
		if err != nil {
			return err
		}
		if qr != nil && r.qrUsedFor != nil {
			if *r.qrUsedFor != o.ID {
				return fail(CodeQRInvalid, "this QR code was already used for another receipt: ask the member to refresh their card")
			}
			qr = nil // recorded with this receipt before
		}
		if f.Earn != nil && qr != nil {
			// A fresh card shown for a receipt credited before: the token is spent on it.
			if err := useMemberQR(ctx, tx, *qr, o.ID, now); err != nil {
				return err
			}
		}
		last := &pgx.Batch{}
		res, err := creditOrder(ctx, tx, last, f, o, w, in.ReceiptNo, qr, now, c.actor())
		if err != nil {
			return err
		}
		out = EarnPointsOutput{TransactionID: res.TransactionID, MemberID: m.ID, PointsEarned: res.Points,
			PointsBalance: res.BalanceAfter, TierID: m.TierID, Duplicate: res.Duplicate, CampaignIDs: res.CampaignIDs}
		return database.CommitWith(ctx, tx, last)
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

// unboundedLifetime reads a member QR token before the settings that bound its lifetime are
// known (to know whose card it is); it is checked again with the bound.
const unboundedLifetime = time.Duration(math.MaxInt64 / 2)

// earnReads is what earnPoints reads, in one round trip: who may earn at the store, the
// guessing cool-down, the credit's facts and whether the QR token was used before.
type earnReads struct {
	creditFacts
	access    storeAccess
	misses    int
	qrUsedFor *string // the order the QR token credited, if any
}

// storeAccessWithMissesSQL is storeAccessSQL and the member codes the caller ($2) looked up
// in vain within the window before $3.
var storeAccessWithMissesSQL = storeAccessSQLWith(`, (SELECT count(*) FROM member_lookup_misses WHERE user_id = $2 AND missed_at > $3::timestamptz - make_interval(secs => (
		SELECT member_lookup_miss_window_seconds FROM program_settings WHERE id = 1)))`)

func readEarn(ctx context.Context, tx pgx.Tx, c Caller, in EarnPointsInput, qr MemberQR, qrErr error, now time.Time) (earnReads, error) {
	var r earnReads
	b := &pgx.Batch{}
	reads := creditReads{
		Order: `o.store_id = $1 AND o.receipt_no = $2`, OrderArgs: []any{in.StoreID, in.ReceiptNo},
		At: now, Campaigns: campaignsOfReceiptSQL, CampArgs: []any{now, in.StoreID, in.ReceiptNo},
	}
	byCode := in.MemberCode != nil && *in.MemberCode != ""
	if byCode {
		// The caller's recent misses come with the store's access, by the same caller: no
		// store, no count, and the store's refusal comes first anyway.
		b.Queue(storeAccessWithMissesSQL, in.StoreID, c.actor(), now).QueryRow(r.access.scanWith(&r.misses))
	} else {
		b.Queue(storeAccessSQL, in.StoreID, c.actor()).QueryRow(r.access.scan)
	}
	switch {
	case byCode:
		reads.Member, reads.MemberArgs = `m.member_code = $1 AND m.deleted_at IS NULL`, []any{*in.MemberCode}
	case qrErr == nil:
		reads.Member, reads.MemberArgs = `m.id = $1`, []any{qr.MemberID}
		b.Queue(`SELECT order_id FROM member_qr_uses WHERE token_id = $1`, qr.TokenID).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&r.qrUsedFor)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	default:
		// A token that does not read: no member to lock; the answer is the token's fault,
		// after the store's checks.
		reads.Member, reads.MemberArgs = `false`, nil
	}
	reads.queue(b, &r.creditFacts)
	return r, tx.SendBatch(ctx, b).Close()
}

// earnOrder is the order the receipt is credited as: a new one, or the one recorded before
// for the same amount and member (or for no member yet, which the counter then names); any
// other is receipt_conflict.
func earnOrder(f *creditFacts, in EarnPointsInput, memberID string, now time.Time) (order, orderWrite, error) {
	if !f.HasOrder {
		return order{ID: newID(), StoreID: in.StoreID, MemberID: &memberID, Amount: in.Amount, Status: "paid", PaidAt: now}, orderInsert, nil
	}
	o := f.Order
	switch {
	case o.Amount != in.Amount:
		return o, 0, fail(CodeReceiptConflict, "receipt %s was recorded with another amount", in.ReceiptNo)
	case o.MemberID != nil && *o.MemberID != memberID:
		return o, 0, fail(CodeReceiptConflict, "receipt %s was credited to another member", in.ReceiptNo)
	case o.Status == "refunded":
		return o, 0, fail(CodeReceiptConflict, "receipt %s was refunded", in.ReceiptNo)
	case o.Status == "pending":
		// Only the POS (and then order_paid) may mark an order paid: the counter cannot.
		return o, 0, fail(CodeReceiptConflict, "receipt %s is not paid yet", in.ReceiptNo)
	case o.MemberID == nil:
		// A POS wrote the paid order without a member: the counter names them.
		o.MemberID = &memberID
		return o, orderSetMember, nil
	}
	return o, orderAsIs, nil
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
