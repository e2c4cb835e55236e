package loyalty

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// RefundOrder records a full or partial refund of a receipt and reverses the points the order
// earned in proportion. Several partial refunds never reverse more than the order earned; if
// the member already spent the points, the balance goes negative.
func (s *Service) RefundOrder(ctx context.Context, c Caller, in RefundOrderInput) (RefundOrderOutput, error) {
	if err := requireRole(c, RoleStaff, RoleAdmin); err != nil {
		return RefundOrderOutput{}, err
	}
	var v checks
	v.uuid("storeId", &in.StoreID)
	v.receiptNo(&in.ReceiptNo)
	v.that(in.Amount == nil || *in.Amount > 0, "amount must be positive")
	if in.Amount != nil {
		v.int32Range("amount", *in.Amount)
	}
	v.optionalText("reason", in.Reason, 500)
	v.optionalText("idempotencyKey", in.IdempotencyKey, 200)
	if err := v.result(); err != nil {
		return RefundOrderOutput{}, err
	}
	now := s.clock()
	var out RefundOrderOutput
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := authorizeStore(ctx, tx, c, in.StoreID, Manager); err != nil {
			return err
		}
		var o order
		err := tx.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE store_id = $1 AND receipt_no = $2 FOR UPDATE`,
			in.StoreID, in.ReceiptNo).Scan(o.fields()...)
		if errors.Is(err, pgx.ErrNoRows) {
			return fail(CodeNotFound, "no receipt %s at this store", in.ReceiptNo)
		}
		if err != nil {
			return err
		}
		left := o.Amount - o.RefundedAmount
		part := left
		if in.Amount != nil {
			part = *in.Amount
		}
		key := ""
		if in.IdempotencyKey != nil {
			key = *in.IdempotencyKey
		}
		if key != "" {
			first, found, err := refundByKey(ctx, tx, o.ID, key, in.Amount)
			if found || err != nil {
				out = first
				return err
			}
		}
		if o.Status == "pending" {
			return invalid("receipt %s is not paid", in.ReceiptNo)
		}
		if part > left {
			return invalid("amount %d is more than the %d left to refund on receipt %s", part, left, in.ReceiptNo)
		}
		if part > 0 {
			o.RefundedAmount += part
			status := "paid"
			if o.RefundedAmount == o.Amount {
				status = "refunded"
			}
			if _, err := tx.Exec(ctx, `UPDATE orders SET refunded_amount = $2, status = $3 WHERE id = $1`, o.ID, o.RefundedAmount, status); err != nil {
				return err
			}
		}
		// part == 0: a repeated full refund. It changes nothing, and answers what stands.
		r, err := reverseOrder(ctx, tx, o, in.Reason, now, c.actor())
		if err != nil {
			return err
		}
		out = RefundOrderOutput{TransactionID: r.TransactionID, PointsReversed: r.Points, PointsBalance: r.Balance}
		if key == "" {
			return nil
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO refund_requests (order_id, idempotency_key, amount, transaction_id, points_reversed, points_balance, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, o.ID, key, part, r.TransactionID, r.Points, r.Balance, now)
		return err
	})
	return out, err
}

// refundByKey answers an earlier refundOrder call on the order with the same key. A repeat
// naming another amount is a different request under a reused key: refused.
func refundByKey(ctx context.Context, tx pgx.Tx, orderID, key string, amount *int64) (RefundOrderOutput, bool, error) {
	var out RefundOrderOutput
	var firstAmount int64
	err := tx.QueryRow(ctx, `
		SELECT amount, transaction_id, points_reversed, points_balance FROM refund_requests
		WHERE order_id = $1 AND idempotency_key = $2`, orderID, key).Scan(&firstAmount, &out.TransactionID, &out.PointsReversed, &out.PointsBalance)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, false, nil
	}
	if err != nil {
		return out, false, err
	}
	if amount != nil && *amount != firstAmount {
		return out, true, invalid("idempotencyKey was already used for a refund of %d", firstAmount)
	}
	return out, true, nil
}

// order is an orders row.
type order struct {
	ID             string
	StoreID        string
	MemberID       *string
	Amount         int64
	RefundedAmount int64
	Status         string
	PaidAt         time.Time
}

// orderColumns are the columns order.fields scans, of a query on orders alone.
var orderColumns = orderColumnsOf("orders")

// orderColumnsOf is orderColumns of the orders row under alias a.
func orderColumnsOf(a string) string {
	return a + ".id, " + a + ".store_id, " + a + ".member_id, " + a + ".amount, " + a + ".refunded_amount, " + a + ".status, " + a + ".paid_at"
}

func (o *order) fields() []any {
	return []any{&o.ID, &o.StoreID, &o.MemberID, &o.Amount, &o.RefundedAmount, &o.Status, &o.PaidAt}
}

// reversal is what reverseOrder did.
type reversal struct {
	TransactionID *string
	Points        int64
	Balance       *int64
}

// earnEntry is an order's earn entry: the points a refund of the order reverses a share of.
type earnEntry struct {
	ID     string
	Points int64
}

// reverseOrder brings the points reversed for an order up to what its refunded amount calls
// for. The reversal is charged to the member whose ledger holds the order's earn entry, not
// to whoever orders.member_id names now (a credited order's member cannot change, and this
// holds even if an operator's SQL changed it). A deleted member's order reverses nothing:
// their points were forfeited with the account, and a new debt on an anonymised member would
// be one nobody can pay or write off. It is idempotent: run again, or for a stale event, it
// reverses nothing more.
func reverseOrder(ctx context.Context, tx pgx.Tx, o order, reason *string, now time.Time, by *string) (reversal, error) {
	var e earnEntry
	m, err := scanMember(tx.QueryRow(ctx, `SELECT e.id, e.points, `+memberColumns+`
		FROM point_transactions e JOIN members m ON m.id = e.member_id JOIN tiers t ON t.id = m.tier_id
		WHERE e.idempotency_key = $1
		FOR NO KEY UPDATE OF m`, "earn:"+o.ID), &e.ID, &e.Points)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Not credited (yet): nothing to reverse. order_paid reverses the refund when it credits.
		return currentBalance(ctx, tx, o)
	case err != nil:
		return reversal{}, err
	case m.Deleted:
		return reversal{}, nil
	}
	return reverseFor(ctx, tx, &m, o, e, reason, now, by)
}

// currentBalance answers a refund of an order that earned nothing: the balance of the member
// it names, if any and not deleted.
func currentBalance(ctx context.Context, tx pgx.Tx, o order) (reversal, error) {
	if o.MemberID == nil {
		return reversal{}, nil
	}
	var balance int64
	err := tx.QueryRow(ctx, `SELECT points_balance FROM members WHERE id = $1 AND deleted_at IS NULL`, *o.MemberID).Scan(&balance)
	if errors.Is(err, pgx.ErrNoRows) {
		return reversal{}, nil
	}
	if err != nil {
		return reversal{}, err
	}
	return reversal{Balance: &balance}, nil
}

// reverseFor posts the step of o's reversal that is still due, for the locked member m who
// holds o's earn entry e. The entry's key names the cumulative target, so two writers cannot
// post the same step twice; the points come back from e's own lot first.
func reverseFor(ctx context.Context, tx pgx.Tx, m *member, o order, e earnEntry, reason *string, now time.Time, by *string) (reversal, error) {
	var reversed int64
	err := tx.QueryRow(ctx, `
		SELECT coalesce(-sum(points), 0) FROM point_transactions WHERE order_id = $1 AND kind = 'refund'`, o.ID).Scan(&reversed)
	if err != nil {
		return reversal{}, err
	}
	balance := m.Balance
	target := RefundTarget(e.Points, o.Amount, o.RefundedAmount)
	if target <= reversed {
		return reversal{Balance: &balance}, nil
	}
	p, err := post(ctx, tx, m, entry{Kind: KindRefund, Points: -(target - reversed), OrderID: &o.ID, StoreID: &o.StoreID,
		Reason: reason, Key: "refund:" + o.ID + ":" + strconv.FormatInt(target, 10), At: now, Reverses: e.ID, By: by}, 0)
	if errors.Is(err, errDuplicate) {
		return reversal{Balance: &balance}, nil
	}
	if err != nil {
		return reversal{}, err
	}
	return reversal{TransactionID: &p.ID, Points: target - reversed, Balance: &p.BalanceAfter}, nil
}
