package loyalty

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
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
	b := &pgx.Batch{}
	queueLockMember(b, `m.id = $1`, []any{id}, &m, &ok)
	return m, ok, tx.SendBatch(ctx, b).Close()
}

// queueLockMember queues locking the member that cond (on members m, with args) names into
// m; found tells whether there was one.
func queueLockMember(b *pgx.Batch, cond string, args []any, m *member, found *bool) {
	queueMemberRow(b, memberSQL.text(memberRead{cond, true}), args, m, found)
}

// queueMember is queueLockMember without the lock, for a write that locks the member itself
// (lateDebitMemberCTE).
func queueMember(b *pgx.Batch, cond string, args []any, m *member, found *bool) {
	queueMemberRow(b, memberSQL.text(memberRead{cond, false}), args, m, found)
}

// memberRead is a read of the member a condition on members m names, locked or not.
type memberRead struct {
	cond string
	lock bool
}

// memberSQL reads the member of a memberRead with their tier's rank and multiplier.
var memberSQL = newBuiltSQL(func(r memberRead) string {
	s := `SELECT ` + memberColumns + ` FROM members m JOIN tiers t ON t.id = m.tier_id
		WHERE ` + r.cond
	if r.lock {
		s += ` FOR NO KEY UPDATE OF m`
	}
	return s
})

// queueMemberRow queues sql (a memberSQL text) with args, scanned into m; found tells
// whether it found the member.
func queueMemberRow(b *pgx.Batch, sql string, args []any, m *member, found *bool) {
	b.Queue(sql, args...).QueryRow(func(row pgx.Row) error {
		var err error
		*m, err = scanMember(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		*found = err == nil
		return err
	})
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
	var lots []Lot
	if e.Points < 0 && m.Balance > 0 {
		// Only a debit of a positive balance takes from lots.
		var err error
		if lots, err = openLots(ctx, tx, m.ID); err != nil {
			return posted{}, err
		}
	}
	w, err := planEntry(m, e, lots)
	if err != nil {
		return posted{}, err
	}
	var p posted
	err = tx.QueryRow(ctx, postSQL, w.args(validityDays, nil)).Scan(&p.ID, &p.BalanceAfter)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, errDuplicate
	}
	if err != nil {
		return p, err
	}
	m.Balance = w.After
	return p, nil
}

// postSQL writes one entry (entryCTEs) and answers its id and balance_after; no row: the key
// was used before.
var postSQL = `WITH ` + entryCTEs("true") + ` SELECT id, balance_after FROM t`

// postLastSQL is postSQL as a transaction's last write, sent with its COMMIT: a key used
// meanwhile fails it (unless_raced) instead of answering no row, and the transaction runs
// again and finds the entry under the key.
var postLastSQL = `WITH ` + entryCTEs("true") + ` SELECT unless_raced(EXISTS (SELECT 1 FROM t), 'the entry key')`

// entryWrite is a ledger entry with what it moves, decided before it is written.
type entryWrite struct {
	entry
	ID       string
	Member   string
	After    int64 // the balance after the entry
	LotDelta int64
	// For a debit the lots pay for: the lots and how much each gives.
	LotIDs   []string
	LotTakes []int64
	// LotID is the id of the lot a credit opens (drawn for every entry: unused by a debit).
	LotID string
}

// planEntry decides what e moves for the locked member m: the balance after it and, for a
// debit the lots pay for, which of lots (the member's open lots, read under the lock) give
// how much. A credit needs no lots.
func planEntry(m *member, e entry, lots []Lot) (entryWrite, error) {
	w, err := planBalance(m, e)
	if err != nil || w.LotDelta >= 0 {
		return w, err
	}
	w.LotIDs, w.LotTakes, err = lotTakes(lots, -w.LotDelta, e.Reverses)
	return w, err
}

// planBalance is planEntry without the lots: all a late debit needs, whose write chooses
// its lots itself (lateDebitEntryCTEs).
func planBalance(m *member, e entry) (entryWrite, error) {
	w := entryWrite{entry: e, ID: newID(), LotID: newID(), Member: m.ID}
	var err error
	w.After, w.LotDelta, err = moveBalance(m.Balance, e.Points)
	return w, err
}

// openLots reads the member's open lots, for a debit to take from.
func openLots(ctx context.Context, tx pgx.Tx, memberID string) ([]Lot, error) {
	rows, err := tx.Query(ctx, openLotsSQL, memberID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanLot)
}

// args are the named arguments of entryCTEs; tier, when set, is the member's new tier.
func (w entryWrite) args(validityDays int, tier *string) database.Args {
	return database.Args{
		"tx_id": w.ID, "member_id": w.Member, "kind": w.Kind, "points": w.Points, "balance": w.After,
		"order_id": w.OrderID, "coupon_id": w.CouponID, "store_id": w.StoreID, "reason": w.Reason, "key": w.Key,
		"at": w.At, "campaign_ids": w.CampaignIDs, "by": w.By, "lot": w.LotDelta, "validity_days": validityDays,
		"lot_ids": w.LotIDs, "lot_takes": w.LotTakes, "tier_id": tier, "lot_id": w.LotID,
	}
}

// entryCTEs are the common table expressions that write one ledger entry (t, nothing when its
// idempotency key was used before) and what it moves, each only if the entry was written:
// the member's balance and, with tier_id, their tier (u); a credit's lot, holding what is left
// after paying any debt (l); a debit's takes from the lots (d). The entry is written only if
// when holds: SQL on the expressions before these, so a statement can chain it on its own
// first write. Every write of the ledger goes through here, or through creditEntryCTEs.
// entryColumns are the columns a ledger entry is written with, in the order of entryCTEs'
// and lateDebitEntryCTEs' SELECTs.
const entryColumns = `id, member_id, kind, points, balance_after, order_id, coupon_id, store_id, reason,
	idempotency_key, created_at, campaign_ids, created_by`

func entryCTEs(when string) string {
	return creditEntryCTEs(when) + `,
	d AS (
		UPDATE point_lots p SET remaining = p.remaining - d.take
		FROM unnest(@lot_ids::uuid[], @lot_takes::bigint[]) AS d(id, take)
		WHERE p.id = d.id AND EXISTS (SELECT 1 FROM t))`
}

// creditEntryCTEs are entryCTEs without the takes from the lots (d), for an entry of zero or
// more points, which never takes (planEntry): every statement plans and starts each of its
// CTEs on every call, so the earn, the most frequent write, leaves out the one it never uses.
func creditEntryCTEs(when string) string {
	return `t AS (
		INSERT INTO point_transactions (` + entryColumns + `)
		SELECT @tx_id::uuid, @member_id::uuid, @kind::text, @points::bigint, @balance::bigint, @order_id::uuid, @coupon_id::uuid,
		       @store_id::uuid, @reason::text, @key::text, @at::timestamptz, coalesce(@campaign_ids::uuid[], '{}'), @by::uuid
		WHERE ` + when + `
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING id, balance_after),
	u AS (
		UPDATE members SET points_balance = @balance::bigint, tier_id = coalesce(@tier_id::text, tier_id)
		WHERE id = @member_id::uuid AND (@points::bigint <> 0 OR @tier_id::text IS NOT NULL) AND EXISTS (SELECT 1 FROM t)),
	l AS (
		INSERT INTO point_lots (id, member_id, transaction_id, points, remaining, earned_at, expires_at)
		SELECT @lot_id::uuid, @member_id::uuid, t.id, @points::bigint, @lot::bigint, @at::timestamptz, @at::timestamptz + make_interval(days => @validity_days::int)
		FROM t WHERE @points::bigint > 0)`
}

// A debit can also lock its member only in the batch of its write, which then goes with the
// COMMIT: the member is locked for that batch instead of across a round trip to Go and back
// (redeemReward on its first attempt). The write then cannot use the balance and lots Go
// read, which other transactions may have moved since; it moves them by its points instead,
// on the rows as they are once locked: the balance, when it still covers the debit (else the
// statement fails with unless_raced, and the transaction runs again, then with the member
// locked in its first read), and the lots that expire first, chosen in SQL (AllocateFIFO's
// order). Go reads no lots for it, and a lot emptied by another redemption between Go's read
// and the write costs no retry: one member's concurrent redemptions drain a lot and go on to
// the next. The statement reads the lots with a snapshot taken after the member's lock (the
// lock is the batch's statement before it, or the attempt's read), and every writer of a lot
// holds its member's lock, so it sees every lot as it is, where it is: the takes find their
// lots again by tuple id (a TID scan), not through point_lots_pkey, whose pages a large
// database mostly has on disk.
//
// lateDebitMemberCTE is the balance's move (u), when cond (SQL on members) holds; it is the
// first CTE of the statement, so the member is locked before anything else the statement
// locks, as on every path. lateDebitEntryCTEs are the entry (t, with the balance after it
// from u, when when holds) and the takes from the lots (d); lateDebitChecks the conditions
// for the statement's final WHERE: a balance that no longer covers the debit, or a key taken
// meanwhile, is a race (retried); lots that hold less than the balance are a broken ledger
// (unless_broken, not retried). Every write of the ledger goes through these or entryCTEs.
func lateDebitMemberCTE(cond string) string {
	return `u AS (
		UPDATE members SET points_balance = points_balance + @points::bigint
		WHERE id = @member_id::uuid AND deleted_at IS NULL AND points_balance + @points::bigint >= 0 AND ` + cond + `
		RETURNING points_balance)`
}

func lateDebitEntryCTEs(when string) string {
	return `t AS (
		INSERT INTO point_transactions (` + entryColumns + `)
		SELECT @tx_id::uuid, @member_id::uuid, @kind::text, @points::bigint, u.points_balance, @order_id::uuid, @coupon_id::uuid,
		       @store_id::uuid, @reason::text, @key::text, @at::timestamptz, '{}', @by::uuid
		FROM u WHERE ` + when + `
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING id, balance_after),
	d AS (
		UPDATE point_lots p SET remaining = p.remaining - o.take
		FROM (
			SELECT ctid, least(remaining, -@points::bigint - ((sum(remaining) OVER first_expiring)::bigint - remaining)) AS take
			FROM point_lots
			WHERE member_id = @member_id::uuid AND is_open
			WINDOW first_expiring AS (ORDER BY expires_at, id ROWS UNBOUNDED PRECEDING)) o
		WHERE p.ctid = o.ctid AND o.take > 0 AND EXISTS (SELECT 1 FROM t)
		RETURNING o.take)`
}

// lateDebitChecks: the balance after a late debit is never negative (u), so the lots, which
// hold max(balance, 0), give all of its points.
const lateDebitChecks = `unless_raced(EXISTS (SELECT 1 FROM u), 'the balance')
	AND unless_raced(EXISTS (SELECT 1 FROM t), 'the entry key')
	AND unless_broken(coalesce((SELECT sum(take) FROM d), 0) = -@points::bigint, 'the open lots hold less than the balance')`

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

// openLotsSQL reads the member's ($1) open lots, to take points from.
const openLotsSQL = `SELECT id, transaction_id, remaining, expires_at FROM point_lots
	WHERE member_id = $1 AND is_open ORDER BY expires_at, id`

func scanLot(r pgx.CollectableRow) (Lot, error) {
	var l Lot
	err := r.Scan(&l.ID, &l.TransactionID, &l.Remaining, &l.ExpiresAt)
	return l, err
}

// lotTakes is how many points to take from which of lots (AllocateReversal), as the two
// arrays an UPDATE ... FROM unnest reads.
func lotTakes(lots []Lot, points int64, reverses string) (ids []string, amounts []int64, err error) {
	takes, short := AllocateReversal(lots, points, reverses)
	if short > 0 {
		return nil, nil, errors.New("lots hold less than the balance: invariant broken")
	}
	ids = make([]string, len(takes))
	amounts = make([]int64, len(takes))
	for i, t := range takes {
		ids[i], amounts[i] = t.LotID, t.Points
	}
	return ids, amounts, nil
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
// less what refunds of those points took back (the SQL function tier_points_window, which
// every tier decision reads, inlined here). No upper end: an entry stamped by a pod whose clock runs a little ahead
// still counts. Its cost does not grow with the member's history (tier_points_by_day).
func earnedInYear(ctx context.Context, tx pgx.Tx, memberID string, at time.Time) (int64, error) {
	var earned int64
	err := tx.QueryRow(ctx, `SELECT points FROM tier_points_window($1, $2)`, memberID, at).Scan(&earned)
	return max(earned, 0), err
}
