package loyalty

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Ledger entry kinds (point_transactions.kind).
const (
	KindEarn   = "earn"
	KindBonus  = "bonus"
	KindRedeem = "redeem"
	KindExpire = "expire"
	KindAdjust = "adjust"
	KindRefund = "refund"
)

// member is a member row locked for the rest of the transaction. Every change of a balance
// locks the member first, so balances, lots and per-member limits change one at a time.
type member struct {
	ID            string
	Code          string
	TierID        string
	TierRank      int
	MultiplierPct int
	Balance       int64
	Deleted       bool
	// ReferredBy is the member whose referral code this member registered with.
	ReferredBy *string
	// ReferralPaid: the referral was settled by a qualifying order.
	ReferralPaid bool
}

const memberColumns = `m.id, m.member_code, m.tier_id, t.rank, t.earn_multiplier_pct, m.points_balance, m.deleted_at IS NOT NULL,
	m.referred_by, m.referral_order_id IS NOT NULL`

// scanMember reads memberColumns, after any columns of before that the query selects first.
func scanMember(row pgx.Row, before ...any) (member, error) {
	var m member
	err := row.Scan(append(before, &m.ID, &m.Code, &m.TierID, &m.TierRank, &m.MultiplierPct, &m.Balance, &m.Deleted, &m.ReferredBy, &m.ReferralPaid)...)
	return m, err
}

// lockMember locks the member by id; ok is false when there is no such member.
//
// FOR NO KEY UPDATE, not FOR UPDATE: inserting an order, coupon or ledger line takes a KEY
// SHARE lock on the member through its foreign key, and FOR UPDATE would conflict with
// that, deadlocking two earns that each inserted an order before locking the member.
func lockMember(ctx context.Context, tx pgx.Tx, id string) (m member, ok bool, err error) {
	m, err = scanMember(tx.QueryRow(ctx, `SELECT `+memberColumns+`
		FROM members m JOIN tiers t ON t.id = m.tier_id WHERE m.id = $1 FOR NO KEY UPDATE OF m`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, false, nil
	}
	return m, err == nil, err
}

// entry is one ledger line to write.
type entry struct {
	Kind     string
	Points   int64 // signed
	OrderID  *string
	CouponID *string
	StoreID  *string
	Reason   *string
	Key      string // idempotency_key
	At       time.Time
	// Reverses, for a refund debit: the earn entry whose lot the debit takes from first.
	Reverses string
	// CampaignIDs, for an earn: the campaigns that counted.
	CampaignIDs []string
	// By is the user who made the entry (nil: the programme itself, a trigger or a cron).
	By *string
}

// posted is a ledger line as written.
type posted struct {
	ID           string
	BalanceAfter int64
}

// errDuplicate: an entry with that idempotency key exists; nothing was written.
var errDuplicate = errors.New("ledger entry already posted")

// post writes e for the locked member m, moves the balance and the lots with it, and updates
// m.Balance. Credits open a lot (paying any debt first); debits take from the lots that
// expire first. validityDays is used by credits only.
//
// The entry and the balance it leaves must fit GraphQL's Int; what would leave that range is
// refused with invalid_input before anything is written.
func post(ctx context.Context, tx pgx.Tx, m *member, e entry, validityDays int) (posted, error) {
	after, lotDelta, err := moveBalance(m.Balance, e.Points)
	if err != nil {
		return posted{}, err
	}
	var p posted
	err = tx.QueryRow(ctx, `
		INSERT INTO point_transactions (member_id, kind, points, balance_after, order_id, coupon_id, store_id, reason, idempotency_key, created_at, campaign_ids, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11::uuid[], '{}'), $12)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING id, balance_after`,
		m.ID, e.Kind, e.Points, after, e.OrderID, e.CouponID, e.StoreID, e.Reason, e.Key, e.At, e.CampaignIDs, e.By).Scan(&p.ID, &p.BalanceAfter)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, errDuplicate
	}
	if err != nil {
		return p, err
	}
	if e.Points != 0 {
		if _, err := tx.Exec(ctx, `UPDATE members SET points_balance = $2 WHERE id = $1`, m.ID, after); err != nil {
			return p, err
		}
	}
	m.Balance = after
	switch {
	case e.Points > 0:
		_, err = tx.Exec(ctx, `
			INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
			VALUES ($1, $2, $3, $4, $5::timestamptz, $5::timestamptz + make_interval(days => $6))`,
			m.ID, p.ID, e.Points, lotDelta, e.At, validityDays)
	case lotDelta < 0:
		err = takeFromLots(ctx, tx, m.ID, -lotDelta, e.Reverses)
	}
	return p, err
}

// moveBalance is what an entry of points does to a balance: the balance after it, and by how
// much the open lots change. Lots hold max(balance, 0): a debt is paid before a new lot gets
// anything, and a debit below zero (refunds only) takes what the lots have. The entry and the
// balance it leaves must fit GraphQL's Int; what would leave that range is invalid_input.
func moveBalance(before, points int64) (after, lotDelta int64, err error) {
	if !inIntRange(points) || !inIntRange(before) {
		return 0, 0, invalid("%d points is more than a balance can hold (%d to %d)", points, MinInt, MaxInt)
	}
	after = before + points // both within int32: no int64 overflow
	if !inIntRange(after) {
		return 0, 0, invalid("the balance would be %d, outside %d to %d", after, MinInt, MaxInt)
	}
	return after, max(after, 0) - max(before, 0), nil
}

// takeFromLots consumes points from the member's open lots: for a reversal, what is left of
// the reversed entry's lot first; then earliest expiry first.
func takeFromLots(ctx context.Context, tx pgx.Tx, memberID string, points int64, reverses string) error {
	rows, err := tx.Query(ctx, `
		SELECT id, transaction_id, remaining, expires_at FROM point_lots
		WHERE member_id = $1 AND remaining > 0
		ORDER BY expires_at, id`, memberID)
	if err != nil {
		return err
	}
	lots, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lot, error) {
		var l Lot
		err := r.Scan(&l.ID, &l.TransactionID, &l.Remaining, &l.ExpiresAt)
		return l, err
	})
	if err != nil {
		return err
	}
	takes, short := AllocateReversal(lots, points, reverses)
	if short > 0 {
		return errors.New("lots hold less than the balance: invariant broken")
	}
	ids := make([]string, len(takes))
	amounts := make([]int64, len(takes))
	for i, t := range takes {
		ids[i], amounts[i] = t.LotID, t.Points
	}
	_, err = tx.Exec(ctx, `
		UPDATE point_lots l SET remaining = l.remaining - d.take
		FROM unnest($1::uuid[], $2::bigint[]) AS d(id, take)
		WHERE l.id = d.id`, ids, amounts)
	return err
}

// upgradeTier moves the locked member up when points earned in the 365 days before at reach a
// higher tier; it never moves down (that is the daily tier review's job).
func upgradeTier(ctx context.Context, tx pgx.Tx, m *member, at time.Time) error {
	earned, err := earnedInYear(ctx, tx, m.ID, at)
	if err != nil {
		return err
	}
	tiers, err := loadTiers(ctx, tx)
	if err != nil {
		return err
	}
	best, ok := TierFor(tiers, earned)
	if !ok || best.Rank <= m.TierRank {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE members SET tier_id = $2 WHERE id = $1`, m.ID, best.ID); err != nil {
		return err
	}
	m.TierID, m.TierRank, m.MultiplierPct = best.ID, best.Rank, best.MultiplierPct
	return nil
}

// earnedInYear is what counts for tiers: points earned from orders in the 365 days up to at,
// less what refunds of those points took back (the SQL function tier_points, which every tier
// decision reads). No upper end: an entry stamped by a pod whose clock runs a little ahead
// still counts. Its cost does not grow with the member's history (tier_points_by_day).
func earnedInYear(ctx context.Context, tx pgx.Tx, memberID string, at time.Time) (int64, error) {
	var earned int64
	err := tx.QueryRow(ctx, `SELECT tier_points($1, $2)`, memberID, at).Scan(&earned)
	return max(earned, 0), err
}
