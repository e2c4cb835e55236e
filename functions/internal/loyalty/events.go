package loyalty

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// WelcomeBonus credits a new member's welcome bonus (member_welcome), once per member
// whatever the deliveries: the ledger key is the member's.
func (s *Service) WelcomeBonus(ctx context.Context, d Delivery, memberID string) (Outcome, error) {
	now := s.clock()
	return s.once(ctx, d, func(tx pgx.Tx) (Outcome, error) {
		m, ok, err := lockMember(ctx, tx, memberID)
		if err != nil {
			return Outcome{}, err
		}
		if !ok || m.Deleted {
			return Outcome{Skipped: "no such member"}, nil
		}
		st, err := loadSettings(ctx, tx)
		if err != nil {
			return Outcome{}, err
		}
		if st.WelcomeBonusPoints == 0 {
			return Outcome{Skipped: "welcome_bonus_points is 0"}, nil
		}
		reason := "welcome bonus"
		_, err = post(ctx, tx, &m, entry{Kind: KindBonus, Points: st.WelcomeBonusPoints, Reason: &reason, Key: "welcome:" + m.ID, At: now}, st.PointsValidityDays)
		if errors.Is(err, errDuplicate) {
			return Outcome{Skipped: "welcome bonus already credited"}, nil
		}
		if err != nil {
			return Outcome{}, err
		}
		return Outcome{Points: st.WelcomeBonusPoints}, nil
	})
}

// CreditPaidOrder credits an order a POS wrote (order_paid). The order is read again under a
// lock, so an event about an older state of the row does what the current state calls for;
// an order earnPoints already credited earns nothing more.
func (s *Service) CreditPaidOrder(ctx context.Context, d Delivery, orderID string) (out Outcome, err error) {
	now := s.clock()
	defer func() {
		if err == nil && !out.Duplicate && out.Skipped == "" {
			s.observer.Points(KindEarn, out.Points)
		}
	}()
	// The credit's reads go with the delivery's claim: the facts are reset for each attempt.
	var f *creditFacts
	reads := func(b *pgx.Batch) {
		f = &creditFacts{}
		creditReads{
			Order: `o.id = $1`, OrderArgs: []any{orderID},
			Member: `m.id = (SELECT member_id FROM orders WHERE id = $1)`, MemberArgs: []any{orderID},
			At: now, Campaigns: campaignsOfOrderSQL, CampArgs: []any{orderID},
		}.queue(b, f)
	}
	return s.onceReading(ctx, d, reads, func(tx pgx.Tx, last *pgx.Batch) (Outcome, error) {
		o, st := f.Order, f.Settings
		switch {
		case !f.HasOrder:
			return Outcome{Skipped: "no such order"}, nil
		case o.MemberID == nil:
			return Outcome{Skipped: "order has no member"}, nil
		case o.Status == "pending":
			return Outcome{Skipped: "order is not paid"}, nil
		case !f.HasMember || f.Member.Deleted:
			return Outcome{Skipped: "member was deleted"}, nil
		case o.Amount > st.MaxOrderAmount:
			return Outcome{Skipped: fmt.Sprintf("amount %d is above max_order_amount", o.Amount)}, nil
		}
		c, err := creditOrder(ctx, tx, last, f, o, orderAsIs, "", nil, now, nil)
		if err != nil {
			return Outcome{}, err
		}
		if c.Duplicate {
			// Credited before, maybe by earnPoints: bring its reversal up to the order's
			// refunds, in case an order_refunded event is still on its way.
			if _, err := reverseOrder(ctx, tx, o, nil, now, nil); err != nil {
				return Outcome{}, err
			}
			return Outcome{Skipped: "order already credited"}, nil
		}
		return Outcome{Points: c.Points}, nil
	})
}

// ReverseRefundedOrder brings the points reversed for an order up to what its current
// refunded amount calls for (order_refunded); stale or repeated events reverse nothing more.
func (s *Service) ReverseRefundedOrder(ctx context.Context, d Delivery, orderID string) (Outcome, error) {
	now := s.clock()
	return s.once(ctx, d, func(tx pgx.Tx) (Outcome, error) {
		o, ok, err := lockOrder(ctx, tx, orderID)
		if err != nil {
			return Outcome{}, err
		}
		if !ok {
			return Outcome{Skipped: "no such order"}, nil
		}
		reason := "order refunded"
		r, err := reverseOrder(ctx, tx, o, &reason, now, nil)
		if err != nil {
			return Outcome{}, err
		}
		if r.Points == 0 {
			return Outcome{Skipped: "nothing more to reverse"}, nil
		}
		return Outcome{Points: -r.Points}, nil
	})
}

// TransactionPosted reacts to a new ledger entry (point_transaction_created): the tier
// upgrade check, and a notification for the member in the outbox.
func (s *Service) TransactionPosted(ctx context.Context, d Delivery, transactionID string) (Outcome, error) {
	now := s.clock()
	// Read with the delivery's claim: the entry, its member locked, and what an upgrade
	// decides on (reset for each attempt).
	var kind string
	var points int64
	var found, hasMember bool
	var m member
	var tierPoints int64
	var tiers []Tier
	reads := func(b *pgx.Batch) {
		found, hasMember = false, false
		b.Queue(`SELECT kind, points FROM point_transactions WHERE id = $1`, transactionID).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&kind, &points)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			found = err == nil
			return err
		})
		holder := `m.id = (SELECT member_id FROM point_transactions WHERE id = $1)`
		queueLockMember(b, holder, []any{transactionID}, &m, &hasMember)
		queueTierFacts(b, holder, []any{transactionID}, now, &tierPoints, &tiers)
	}
	return s.onceReading(ctx, d, reads, func(tx pgx.Tx, w *pgx.Batch) (Outcome, error) {
		switch {
		case !found:
			return Outcome{Skipped: "no such transaction"}, nil
		case !hasMember:
			return Outcome{}, nil
		case m.Deleted:
			return Outcome{Skipped: "member was deleted"}, nil
		}
		// And one to write, with the COMMIT: the upgrade if the entry earned one, and the
		// notifications.
		if best, ok := TierFor(tiers, max(tierPoints, 0)); kind == KindEarn && ok && best.Rank > m.TierRank {
			w.Queue(`UPDATE members SET tier_id = $2 WHERE id = $1`, m.ID, best.ID)
			if err := queueNotify(w, m.ID, "tier_up", nil, "tier:"+m.ID+":"+best.ID+":"+transactionID, now, message{
				Title: "You reached a new tier", Body: fmt.Sprintf("Welcome to %s.", best.ID),
				Data: map[string]any{"tierId": best.ID, "previousTierId": m.TierID}}); err != nil {
				return Outcome{}, err
			}
		}
		if err := queueNotify(w, m.ID, kind, &transactionID, "tx:"+transactionID, now, transactionMessage(kind, points)); err != nil {
			return Outcome{}, err
		}
		return Outcome{Points: points}, nil
	})
}

func lockOrder(ctx context.Context, tx pgx.Tx, id string) (order, bool, error) {
	var o order
	err := tx.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1 FOR UPDATE`, id).Scan(o.fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, false, nil
	}
	return o, err == nil, err
}
