package loyalty

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
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
	key := ""
	if in.IdempotencyKey != nil {
		key = *in.IdempotencyKey
	}
	var out RefundOrderOutput
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		f, err := readRefund(ctx, tx, c, in, key)
		if err != nil {
			return err
		}
		if err := f.access.check(c, in.StoreID, Manager); err != nil {
			return err
		}
		if !f.HasOrder {
			return fail(CodeNotFound, "no receipt %s at this store", in.ReceiptNo)
		}
		o := f.Order
		left := o.Amount - o.RefundedAmount
		part := left
		if in.Amount != nil {
			part = *in.Amount
		}
		if f.First != nil {
			// A repeat naming another amount is a different request under a reused key.
			out = f.First.RefundOrderOutput
			if in.Amount != nil && *in.Amount != f.First.Amount {
				return invalid("idempotencyKey was already used for a refund of %d", f.First.Amount)
			}
			return nil
		}
		if o.Status == "pending" {
			return invalid("receipt %s is not paid", in.ReceiptNo)
		}
		if part > left {
			return invalid("amount %d is more than the %d left to refund on receipt %s", part, left, in.ReceiptNo)
		}
		// part == 0: a repeated full refund. It changes nothing, and answers what stands.
		o.RefundedAmount += part
		status := "paid"
		if o.RefundedAmount == o.Amount {
			status = "refunded"
		}
		var r reversal
		var due *entryWrite
		switch {
		case f.Earn == nil:
			// Not credited (yet): nothing to reverse; order_paid reverses the refund when it credits.
			r = reversal{Balance: f.NamedBalance}
		case f.Holder.Deleted:
			// Forfeited with the account (reverseOrder).
		default:
			e, points, ok := dueReversal(o, *f.Earn, f.Reversed, in.Reason, now, c.actor())
			balance := f.Holder.Balance
			r = reversal{Balance: &balance}
			if ok {
				w, err := planEntry(&f.Holder, e, f.Lots)
				if err != nil {
					return err
				}
				due, r = &w, reversal{TransactionID: &w.ID, Points: points, Balance: &w.After}
			}
		}
		out = RefundOrderOutput{TransactionID: r.TransactionID, PointsReversed: r.Points, PointsBalance: r.Balance}
		if part == 0 && due == nil && key == "" {
			return nil
		}
		args := database.Args{"order_id": o.ID, "part": part, "refunded": o.RefundedAmount, "status": status,
			"request_key": nil, "reversed_tx": r.TransactionID, "reversed": r.Points, "balance_now": r.Balance, "at": now}
		if key != "" {
			args["request_key"] = key
		}
		if due != nil {
			for k, v := range due.args(0, nil) {
				args[k] = v
			}
		}
		w := &pgx.Batch{}
		w.Queue(refundSQL.text(due != nil), args)
		return database.CommitWith(ctx, tx, w)
	})
	return out, err
}

// refundReads is what refundOrder reads, in one round trip: who may refund at the store, the
// order (locked), an earlier request under the key, and, the member who holds the order's
// earn entry locked, that entry, what was reversed of it so far and the member's open lots;
// for an order not credited, the balance of the member it names.
type refundReads struct {
	access       storeAccess
	Order        order
	HasOrder     bool
	First        *firstRefund
	Earn         *earnEntry
	Holder       member
	Reversed     int64
	Lots         []Lot
	NamedBalance *int64
}

// firstRefund is an earlier refundOrder call under the same key.
type firstRefund struct {
	RefundOrderOutput
	Amount int64
}

func readRefund(ctx context.Context, tx pgx.Tx, c Caller, in RefundOrderInput, key string) (refundReads, error) {
	var f refundReads
	const theOrder = `(SELECT id FROM orders WHERE store_id = $1 AND receipt_no = $2)`
	const theEarn = `(SELECT 'earn:' || id::text FROM orders WHERE store_id = $1 AND receipt_no = $2)`
	b := &pgx.Batch{}
	b.Queue(storeAccessSQL, in.StoreID, c.actor()).QueryRow(f.access.scan)
	b.Queue(`SELECT `+orderColumns+` FROM orders WHERE store_id = $1 AND receipt_no = $2 FOR UPDATE`, in.StoreID, in.ReceiptNo).
		QueryRow(func(row pgx.Row) error {
			err := row.Scan(f.Order.fields()...)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			f.HasOrder = err == nil
			return err
		})
	if key != "" {
		b.Queue(`SELECT amount, transaction_id, points_reversed, points_balance FROM refund_requests
			WHERE order_id = `+theOrder+` AND idempotency_key = $3`, in.StoreID, in.ReceiptNo, key).QueryRow(func(row pgx.Row) error {
			var r firstRefund
			err := row.Scan(&r.Amount, &r.TransactionID, &r.PointsReversed, &r.PointsBalance)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			f.First = &r
			return err
		})
	}
	b.Queue(`SELECT e.id, e.points, `+memberColumns+`
		FROM point_transactions e JOIN members m ON m.id = e.member_id JOIN tiers t ON t.id = m.tier_id
		WHERE e.idempotency_key = `+theEarn+`
		FOR NO KEY UPDATE OF m`, in.StoreID, in.ReceiptNo).QueryRow(func(row pgx.Row) error {
		var e earnEntry
		m, err := scanMember(row, &e.ID, &e.Points)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		f.Earn, f.Holder = &e, m
		return err
	})
	b.Queue(`SELECT coalesce(-sum(points), 0) FROM point_transactions WHERE order_id = `+theOrder+` AND kind = 'refund'`,
		in.StoreID, in.ReceiptNo).QueryRow(func(row pgx.Row) error { return row.Scan(&f.Reversed) })
	b.Queue(`SELECT l.id, l.transaction_id, l.remaining, l.expires_at FROM point_lots l
		WHERE l.member_id = (SELECT member_id FROM point_transactions WHERE idempotency_key = `+theEarn+`) AND l.is_open
		ORDER BY l.expires_at, l.id`, in.StoreID, in.ReceiptNo).Query(func(rows pgx.Rows) error {
		var err error
		f.Lots, err = pgx.CollectRows(rows, scanLot)
		return err
	})
	b.Queue(`SELECT points_balance FROM members
		WHERE id = (SELECT member_id FROM orders WHERE store_id = $1 AND receipt_no = $2) AND deleted_at IS NULL`,
		in.StoreID, in.ReceiptNo).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&f.NamedBalance)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return f, tx.SendBatch(ctx, b).Close()
}

// refundSQL records a refund: the order's refunded amount, the reversal entry when one is
// due (entryCTEs), and the request under its idempotency key. It goes with the COMMIT: a
// reversal key taken meanwhile fails it (unless_raced), and the transaction runs again.
var refundSQL = newBuiltSQL(func(reverses bool) string {
	entry, written := ``, `true`
	if reverses {
		entry, written = entryCTEs("true")+`,`, `unless_raced(EXISTS (SELECT 1 FROM t), 'the reversal key')`
	}
	return `WITH o AS (
		UPDATE orders SET refunded_amount = @refunded::bigint, status = @status::text
		WHERE id = @order_id::uuid AND @part::bigint > 0),
	` + entry + `
	r AS (
		INSERT INTO refund_requests (order_id, idempotency_key, amount, transaction_id, points_reversed, points_balance, created_at)
		SELECT @order_id::uuid, @request_key::text, @part::bigint, @reversed_tx::uuid, @reversed::bigint, @balance_now::bigint, @at::timestamptz
		WHERE @request_key::text IS NOT NULL)
	SELECT ` + written
})

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
	e2, points, ok := dueReversal(o, e, reversed, reason, now, by)
	if !ok {
		return reversal{Balance: &balance}, nil
	}
	p, err := post(ctx, tx, m, e2, 0)
	if errors.Is(err, errDuplicate) {
		return reversal{Balance: &balance}, nil
	}
	if err != nil {
		return reversal{}, err
	}
	return reversal{TransactionID: &p.ID, Points: points, Balance: &p.BalanceAfter}, nil
}

// dueReversal is the refund entry that brings the reversal of o's earn entry e up to what
// o's refunded amount calls for, reversed points having been reversed so far: points of it,
// taken from e's own lot first. Its key names the cumulative target, so two writers cannot
// post the same step twice. ok is false when nothing is due.
func dueReversal(o order, e earnEntry, reversed int64, reason *string, now time.Time, by *string) (refund entry, points int64, ok bool) {
	target := RefundTarget(e.Points, o.Amount, o.RefundedAmount)
	if target <= reversed {
		return entry{}, 0, false
	}
	return entry{Kind: KindRefund, Points: -(target - reversed), OrderID: &o.ID, StoreID: &o.StoreID, Reason: reason,
		Key: "refund:" + o.ID + ":" + strconv.FormatInt(target, 10), At: now, Reverses: e.ID, By: by}, target - reversed, true
}
