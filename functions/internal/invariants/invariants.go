// Package invariants holds the SQL checks of the programme's rules that hold always (the
// ledger, the lots, stock, one earn per order, negative balances). They live in one place so
// that loyaltyctl, the hotfix command and the tests check the same rules the same way.
package invariants

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Rule is one invariant: SQL that returns a row for every place the rule is broken, as
// (key, got, want) in text.
type Rule struct {
	Name string
	SQL  string
}

// Rules are the invariants of the product, in the order they are checked.
var Rules = []Rule{
	{"points_balance is the sum of the member's ledger", `
		SELECT m.id::text, m.points_balance::text, coalesce(sum(t.points), 0)::text
		FROM members m LEFT JOIN point_transactions t ON t.member_id = m.id
		GROUP BY m.id HAVING m.points_balance <> coalesce(sum(t.points), 0)`},
	// All open lots, expired or not: spending may take lots past expiry that the nightly run
	// has not expired yet, so they still count until it does.
	{"the open lots hold max(balance, 0)", `
		SELECT m.id::text, coalesce(sum(l.remaining), 0)::text, greatest(m.points_balance, 0)::text
		FROM members m LEFT JOIN point_lots l ON l.member_id = m.id
		GROUP BY m.id HAVING greatest(m.points_balance, 0) <> coalesce(sum(l.remaining), 0)`},
	{"balance_after is the running balance, in the order entries were posted", `
		SELECT id::text, balance_after::text, running::text FROM (
			SELECT id, balance_after, sum(points) OVER (PARTITION BY member_id ORDER BY seq) AS running
			FROM point_transactions) x
		WHERE balance_after <> running`},
	{"only a refund leaves a balance below zero", `
		SELECT id::text, kind || ' to ' || balance_after, 'a balance >= 0' FROM point_transactions
		WHERE balance_after < 0 AND kind <> 'refund' AND points <= 0`},
	// Tier decisions read the day sums (tier_points), not the ledger: they must agree.
	{"tier_points_by_day is the ledger's earn and refund points per member and UTC day", `
		SELECT coalesce(l.member_id, d.member_id)::text || ' ' || coalesce(l.day, d.day)::text,
		       coalesce(d.points, 0)::text, coalesce(l.points, 0)::text
		FROM (SELECT member_id, (created_at AT TIME ZONE 'UTC')::date AS day, sum(points) AS points
		      FROM point_transactions WHERE kind IN ('earn', 'refund') GROUP BY 1, 2) l
		FULL JOIN tier_points_by_day d ON d.member_id = l.member_id AND d.day = l.day
		WHERE coalesce(l.points, 0) <> coalesce(d.points, 0)`},
	{"an order earns once", `
		SELECT order_id::text, count(*)::text, '1' FROM point_transactions
		WHERE kind = 'earn' GROUP BY order_id HAVING count(*) > 1`},
	{"refunds never reverse more than the order earned", `
		SELECT order_id::text, coalesce(-sum(points) FILTER (WHERE kind = 'refund'), 0)::text,
		       'at most ' || coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0)
		FROM point_transactions WHERE order_id IS NOT NULL GROUP BY order_id
		HAVING coalesce(-sum(points) FILTER (WHERE kind = 'refund'), 0) > coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0)`},
	{"every redemption has its coupon, and every coupon its redemption", `
		SELECT c.id::text, count(t.id)::text, '1' FROM coupons c
		LEFT JOIN point_transactions t ON t.coupon_id = c.id AND t.kind = 'redeem'
		GROUP BY c.id HAVING count(t.id) <> 1`},
	// stock counts the units left, so a reward never issues more coupons than it had exactly
	// while stock cannot go below zero; redeemRewards's conditional update relies on the check
	// constraint being there and valid, which a hotfix could drop or invalidate.
	{"no reward issues more coupons than its stock", `
		SELECT id::text, stock::text, '>= 0' FROM rewards WHERE stock < 0
		UNION ALL
		SELECT 'rewards_stock_check', coalesce((SELECT CASE WHEN convalidated THEN 'valid' ELSE 'not valid' END
			FROM pg_constraint WHERE conname = 'rewards_stock_check' AND conrelid = 'public.rewards'::regclass), 'missing'), 'valid'
		WHERE NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'rewards_stock_check'
			AND conrelid = 'public.rewards'::regclass AND convalidated)`},
}

// Violation is one place a rule is broken.
type Violation struct {
	Rule string `json:"rule"`
	Key  string `json:"key"` // the member, entry, order, coupon or reward concerned
	Got  string `json:"got"`
	Want string `json:"want"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s has %s, want %s", v.Rule, v.Key, v.Got, v.Want)
}

// Querier is a pool, a connection or a transaction: a hotfix checks inside its transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Check runs every rule and returns every violation; an error is a check that could not run.
func Check(ctx context.Context, q Querier) ([]Violation, error) {
	var out []Violation
	for _, r := range Rules {
		rows, err := q.Query(ctx, r.SQL)
		if err != nil {
			return out, fmt.Errorf("invariant %q: %w", r.Name, err)
		}
		vs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Violation, error) {
			v := Violation{Rule: r.Name}
			err := row.Scan(&v.Key, &v.Got, &v.Want)
			return v, err
		})
		if err != nil {
			return out, fmt.Errorf("invariant %q: %w", r.Name, err)
		}
		out = append(out, vs...)
	}
	return out, nil
}
