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
	v.text("receiptNo", in.ReceiptNo, 64)
	v.that(in.Amount == nil || *in.Amount > 0, "amount must be positive")
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
		r, err := reverseOrder(ctx, tx, o, in.Reason, now)
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
}

const orderColumns = `id, store_id, member_id, amount, refunded_amount, status`

func (o *order) fields() []any {
	return []any{&o.ID, &o.StoreID, &o.MemberID, &o.Amount, &o.RefundedAmount, &o.Status}
}

// reversal is what reverseOrder did.
type reversal struct {
	TransactionID *string
	Points        int64
	Balance       *int64
}

// reverseOrder brings the points reversed for an order up to what its refunded amount calls
// for. It is idempotent: run again, or for a stale event, it reverses nothing more. The
// entry's key names the cumulative target, so two writers cannot post the same step twice.
func reverseOrder(ctx context.Context, tx pgx.Tx, o order, reason *string, now time.Time) (reversal, error) {
	if o.MemberID == nil {
		return reversal{}, nil
	}
	m, ok, err := lockMember(ctx, tx, *o.MemberID)
	if err != nil || !ok {
		return reversal{}, err
	}
	var earned, reversed int64
	err = tx.QueryRow(ctx, `
		SELECT coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0), coalesce(-sum(points) FILTER (WHERE kind = 'refund'), 0)
		FROM point_transactions WHERE order_id = $1`, o.ID).Scan(&earned, &reversed)
	if err != nil {
		return reversal{}, err
	}
	balance := m.Balance
	target := RefundTarget(earned, o.Amount, o.RefundedAmount)
	if target <= reversed {
		return reversal{Balance: &balance}, nil
	}
	p, err := post(ctx, tx, &m, entry{Kind: KindRefund, Points: -(target - reversed), OrderID: &o.ID, StoreID: &o.StoreID,
		Reason: reason, Key: "refund:" + o.ID + ":" + strconv.FormatInt(target, 10), At: now}, 0)
	if errors.Is(err, errDuplicate) {
		return reversal{Balance: &balance}, nil
	}
	if err != nil {
		return reversal{}, err
	}
	return reversal{TransactionID: &p.ID, Points: target - reversed, Balance: &p.BalanceAfter}, nil
}
