package loyalty

// Crediting an order, in as few round trips as its guarantees allow. Everything the credit
// reads goes to PostgreSQL as one batch (creditReads, with the transaction's BEGIN), the
// order's row locked before the member's as on every path that locks both; Go decides; the
// writes go as one data-modifying statement (creditSQL), with the COMMIT when nothing follows
// them. The member stays locked from the read to the commit, so the balance, the lots and the
// tier points read are the ones written over. A receipt or QR token that did not exist at the
// read (nothing to lock yet) but that a concurrent earn wrote before this one's write makes
// the write fail in SQL (unless_raced, a serialization failure) before its COMMIT, and the
// transaction runs again and sees the other's work.

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// creditFacts is what crediting an order reads.
type creditFacts struct {
	Settings Settings
	Tiers    []Tier
	// Campaigns are those active at the order's paid_at at its store; Matches still applies.
	Campaigns []Campaign
	Member    member
	HasMember bool
	// TierPoints are the member's tier points before this credit, read under their lock.
	TierPoints int64
	Order      order
	HasOrder   bool
	// Earn is the order's earn entry, when it was credited before.
	Earn *credited
}

// creditReads queues the reads of f on b: Order is a condition on orders o naming the order
// (locked first), Member one on members m naming the member to lock, Campaigns the query of
// the campaigns of the order's store and paid_at.
type creditReads struct {
	Order      string // condition on orders o
	OrderArgs  []any
	Member     string // condition on members m
	MemberArgs []any
	At         time.Time // the moment tier points are counted at
	Campaigns  string    // a campaigns query (campaignsOfReceiptSQL or campaignsOfOrderSQL)
	CampArgs   []any
}

func (r creditReads) queue(b *pgx.Batch, f *creditFacts) {
	b.Queue(creditOrderSQL.text(r.Order), r.OrderArgs...).QueryRow(func(row pgx.Row) error {
		var id *string
		var e credited
		err := row.Scan(append(f.Order.fields(), &id, &e.Points, &e.BalanceAfter, &e.CampaignIDs)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		f.HasOrder = err == nil
		if err == nil && id != nil {
			e.TransactionID, e.Duplicate = *id, true
			f.Earn = &e
		}
		return err
	})
	queueLockMember(b, r.Member, r.MemberArgs, &f.Member, &f.HasMember)
	queueTierFacts(b, r.Member, r.MemberArgs, r.At, &f.TierPoints, &f.Tiers)
	queueSettings(b, &f.Settings)
	b.Queue(r.Campaigns, r.CampArgs...).Query(func(rows pgx.Rows) error {
		var err error
		f.Campaigns, err = pgx.CollectRows(rows, scanCampaign)
		return err
	})
}

// creditOrderSQL reads the order that cond (on orders o) names, locked, with its earn entry.
var creditOrderSQL = newBuiltSQL(func(cond string) string {
	return `SELECT ` + orderColumnsOf("o") + `, t.id, coalesce(t.points, 0), coalesce(t.balance_after, 0), coalesce(t.campaign_ids::text[], '{}')
		FROM orders o LEFT JOIN point_transactions t ON t.idempotency_key = 'earn:' || o.id::text
		WHERE ` + cond + ` FOR UPDATE OF o`
})

// queueTierFacts queues the reads a tier upgrade decides on: the tier points at at of the
// member that cond (on members m, with args) names, and the tiers. Queue it after the member's
// lock, so that an earn for the member that committed meanwhile is counted.
// Both come in one statement (no member: no tiers either, and no upgrade to decide).
func queueTierFacts(b *pgx.Batch, cond string, args []any, at time.Time, points *int64, tiers *[]Tier) {
	b.Queue(tierFactsOfSQL.text(memberCond{cond, len(args)}), append(slices.Clone(args), at)...).QueryRow(func(row pgx.Row) error {
		var ids []string
		var ranks, multipliers []int
		var mins []int64
		err := row.Scan(points, &ids, &ranks, &mins, &multipliers)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		*tiers = make([]Tier, len(ids))
		for i := range ids {
			(*tiers)[i] = Tier{ID: ids[i], Rank: ranks[i], MinPoints: mins[i], MultiplierPct: multipliers[i]}
		}
		return nil
	})
}

// memberCond is a condition on members m and the number of arguments it takes.
type memberCond struct {
	cond string
	args int
}

// tierFactsOfSQL is the tier points of the member that a memberCond names, at the moment
// given as the argument after the condition's (tier_points_window in FROM, which PostgreSQL
// inlines into this statement; tier_points() would be a PL/pgSQL call), and the tiers as
// columns of arrays in rank order (tiersSQL's columns): one statement where two cost a
// second statement's start and end in PostgreSQL on every earn.
var tierFactsOfSQL = newBuiltSQL(func(c memberCond) string {
	return `SELECT w.points, t.ids, t.ranks, t.min_points, t.multipliers
		FROM members m CROSS JOIN LATERAL tier_points_window(m.id, $` + strconv.Itoa(c.args+1) + `) w
		CROSS JOIN (SELECT array_agg(id ORDER BY rank) AS ids, array_agg(rank ORDER BY rank) AS ranks,
		                   array_agg(min_points ORDER BY rank) AS min_points, array_agg(earn_multiplier_pct ORDER BY rank) AS multipliers
		            FROM tiers) t
		WHERE ` + c.cond
})

// orderWrite is how the credit records the order: a new row, the member set on a POS's order
// that had none, or nothing when the order already names the member.
type orderWrite int

const (
	orderInsert orderWrite = iota
	orderSetMember
	orderAsIs
)

var orderSQL = map[orderWrite]string{
	orderInsert: `INSERT INTO orders (id, store_id, receipt_no, member_id, amount, status, paid_at)
		VALUES (@order_id::uuid, @store_id::uuid, @receipt_no::text, @member_id::uuid, @amount::bigint, 'paid', @at::timestamptz)
		ON CONFLICT (store_id, receipt_no) DO NOTHING RETURNING id`,
	orderSetMember: `UPDATE orders SET member_id = @member_id::uuid WHERE id = @order_id::uuid RETURNING id`,
	orderAsIs:      `SELECT @order_id::uuid AS id`,
}

// creditSQL writes an order's earn: the order (per orderWrite), the earn entry with what it
// moves (creditEntryCTEs: an earn never takes from lots), and, with a member QR token, the
// token's use, each only if the step before it wrote. A step that wrote nothing (a concurrent
// earn took the receipt, the entry's key or the token first) fails the statement with
// unless_raced. Without a token the statement has no step for one: PostgreSQL starts every
// CTE of a statement on every call, used or not.
var creditSQL = newBuiltSQL(func(k creditWrite) string {
	sql := `WITH o AS (` + orderSQL[k.order] + `),
	` + creditEntryCTEs("EXISTS (SELECT 1 FROM o)")
	checks := `unless_raced(EXISTS (SELECT 1 FROM o), 'the receipt')
	   AND unless_raced(EXISTS (SELECT 1 FROM t), 'the earn entry')`
	if k.qrToken {
		sql += `,
	q AS (
		INSERT INTO member_qr_uses (token_id, member_id, order_id, used_at)
		SELECT @qr_token_id::text, @member_id::uuid, o.id, @at::timestamptz FROM o, t
		ON CONFLICT (token_id) DO NOTHING
		RETURNING 1)`
		checks += `
	   AND unless_raced(EXISTS (SELECT 1 FROM q), 'the member QR token')`
	}
	return sql + `
	SELECT ` + checks
})

// creditWrite is the shape of a creditSQL statement: how it writes the order, and whether it
// records the use of a member QR token.
type creditWrite struct {
	order   orderWrite
	qrToken bool
}

// creditOrder credits order o to the locked member f.Member, once per order whichever path
// (earnPoints or order_paid) gets there first: with the campaigns that match the order at its
// paid_at (the member's tier as it was before this order) in the same one entry. A refund a
// POS recorded before the order was credited is reversed in the same transaction, and only
// then is the tier checked, so an upgrade sees the net points. The member's first qualifying
// order settles their referral. An order credited before answers its first entry, Duplicate.
// qr, when set, is the member QR token that named the member: its use is recorded with the
// order. When nothing has to follow the credit's write (no refund to reverse, no referral to
// settle), and last is not nil, the write is queued on last, the transaction's last
// statements, which the caller sends with the COMMIT; otherwise it is sent now.
func creditOrder(ctx context.Context, tx pgx.Tx, last *pgx.Batch, f *creditFacts, o order, w orderWrite, receiptNo string, qr *MemberQR, now time.Time, by *string) (credited, error) {
	m, st := &f.Member, f.Settings
	if f.Earn != nil {
		return *f.Earn, nil
	}
	loc, err := st.Location()
	if err != nil {
		return credited{}, err
	}
	facts := OrderFacts{StoreID: o.StoreID, PaidAt: o.PaidAt, Amount: o.Amount, TierRank: m.TierRank}
	matching := slices.DeleteFunc(slices.Clone(f.Campaigns), func(c Campaign) bool { return !c.Matches(facts, loc) })
	points, applied := ApplyCampaigns(BasePoints(o.Amount, st), m.MultiplierPct, matching)
	tier := Tier{ID: m.TierID, Rank: m.TierRank, MultiplierPct: m.MultiplierPct}
	var newTier *string
	refundedFirst := o.RefundedAmount > 0
	if best, ok := TierFor(f.Tiers, max(f.TierPoints+points, 0)); ok && best.Rank > tier.Rank && !refundedFirst {
		tier, newTier = best, &best.ID
	}
	e, err := planEntry(m, entry{Kind: KindEarn, Points: points, OrderID: &o.ID, StoreID: &o.StoreID, Key: "earn:" + o.ID,
		At: now, CampaignIDs: applied, By: by}, nil)
	if err != nil {
		return credited{}, err
	}
	args := e.args(st.PointsValidityDays, newTier)
	args["receipt_no"], args["amount"] = receiptNo, o.Amount
	write := creditWrite{order: w, qrToken: qr != nil}
	if qr != nil {
		args["qr_token_id"] = qr.TokenID
	}
	txID, after := e.ID, e.After
	m.Balance = after
	m.TierID, m.TierRank, m.MultiplierPct = tier.ID, tier.Rank, tier.MultiplierPct
	if last != nil && !refundedFirst && !referralDue(m, o, st) {
		last.Queue(creditSQL.text(write), args)
		return credited{TransactionID: txID, Points: points, BalanceAfter: after, CampaignIDs: applied}, nil
	}
	if _, err := tx.Exec(ctx, creditSQL.text(write), args); err != nil {
		return credited{}, err
	}
	if refundedFirst {
		if _, err := reverseFor(ctx, tx, m, o, earnEntry{ID: txID, Points: points}, nil, now, by); err != nil {
			return credited{}, err
		}
		if err := upgradeTier(ctx, tx, m, now); err != nil {
			return credited{}, err
		}
	}
	if err := settleReferral(ctx, tx, m, o, st, now); err != nil {
		return credited{}, err
	}
	return credited{TransactionID: txID, Points: points, BalanceAfter: m.Balance, CampaignIDs: applied}, nil
}
