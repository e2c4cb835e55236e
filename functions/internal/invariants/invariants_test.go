package invariants_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/invariants"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func exec(t *testing.T, db *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

const member = `INSERT INTO members (id, member_code, display_name, points_balance) VALUES ('00000000-0000-4000-8000-000000000001', '0000000001', 'm', $1)`

// credit posts a consistent credit of points to the member: entry, lot and balance.
func credit(t *testing.T, db *pgxpool.Pool, key string, points int64) {
	t.Helper()
	exec(t, db, `
		WITH e AS (
			INSERT INTO point_transactions (member_id, kind, points, balance_after, reason, idempotency_key)
			SELECT id, 'adjust', $2, points_balance + $2, 'test', $1 FROM members WHERE id = '00000000-0000-4000-8000-000000000001'
			RETURNING id, member_id, points),
		l AS (INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
			SELECT member_id, id, points, points, now(), now() + interval '1 year' FROM e)
		UPDATE members SET points_balance = points_balance + $2 WHERE id = '00000000-0000-4000-8000-000000000001'`, key, points)
}

// brokenCase is a database state and the rules it breaks, by name.
type brokenCase struct {
	name  string
	setup func(t *testing.T, db *pgxpool.Pool)
	rules []string
}

const (
	memberID = "00000000-0000-4000-8000-000000000001"
	storeID  = "00000000-0000-4000-8000-00000000000a"
	orderID  = "00000000-0000-4000-8000-0000000000b1"
	rewardID = "00000000-0000-4000-8000-0000000000c1"
	couponID = "00000000-0000-4000-8000-0000000000d1"
)

// order is a store and an order of the member.
func order(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	exec(t, db, `INSERT INTO stores (id, code, name) VALUES ($1, 'S1', 's')`, storeID)
	exec(t, db, `INSERT INTO orders (id, store_id, receipt_no, member_id, amount) VALUES ($1, $2, 'R1', $3, 100)`, orderID, storeID, memberID)
}

// coupon is a reward and a coupon of it issued to the member.
func coupon(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	exec(t, db, `INSERT INTO rewards (id, name, points_cost) VALUES ($1, 'r', 10)`, rewardID)
	exec(t, db, `INSERT INTO coupons (id, code, member_id, reward_id, expires_at) VALUES ($1, 'ABCDEFGH', $2, $3, now() + interval '30 days')`,
		couponID, memberID, rewardID)
}

// entry posts one ledger entry as given, and nothing else.
func entry(t *testing.T, db *pgxpool.Pool, kind string, points, balanceAfter int64, key string, orderOrCoupon *string) {
	t.Helper()
	var order, coupon *string
	switch kind {
	case "earn", "refund":
		order = orderOrCoupon
	case "redeem":
		coupon = orderOrCoupon
	}
	exec(t, db, `INSERT INTO point_transactions (member_id, kind, points, balance_after, order_id, coupon_id, idempotency_key)
		VALUES ($1, $2, $3, $4, $5::uuid, $6::uuid, $7)`, memberID, kind, points, balanceAfter, order, coupon, key)
}

func ptr(s string) *string { return &s }

func TestEachRuleReportsTheRowsThatBreakIt(t *testing.T) {
	tests := []brokenCase{
		{"a consistent member breaks nothing", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, 0)
			credit(t, db, "a", 50)
		}, nil},
		{"a balance without entries breaks the ledger and the lots", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, 40)
		}, []string{invariants.Rules[0].Name, invariants.Rules[1].Name}},
		{"a lot emptied by hand breaks the lots rule only", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, 0)
			credit(t, db, "a", 50)
			exec(t, db, `UPDATE point_lots SET remaining = 10`)
		}, []string{invariants.Rules[1].Name}},
		{"a stock check dropped by a hotfix is reported", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, `ALTER TABLE rewards DROP CONSTRAINT rewards_stock_check`)
		}, []string{"no reward issues more coupons than its stock"}},
		{"a negative stock is reported with its reward", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, `ALTER TABLE rewards DROP CONSTRAINT rewards_stock_check`)
			exec(t, db, `INSERT INTO rewards (name, points_cost, stock) VALUES ('r', 10, -1)`)
		}, []string{"no reward issues more coupons than its stock", "no reward issues more coupons than its stock"}},
		{"a second earn of an order is reported", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, 0)
			exec(t, db, `INSERT INTO stores (id, code, name) VALUES ('00000000-0000-4000-8000-00000000000a', 'S1', 's')`)
			exec(t, db, `INSERT INTO orders (id, store_id, receipt_no, member_id, amount) VALUES ('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-00000000000a', 'R1', '00000000-0000-4000-8000-000000000001', 100)`)
			for _, k := range []string{"e1", "e2"} {
				exec(t, db, `INSERT INTO point_transactions (member_id, kind, points, balance_after, order_id, idempotency_key)
					VALUES ('00000000-0000-4000-8000-000000000001', 'earn', 0, 0, '00000000-0000-4000-8000-0000000000b1', $1)`, k)
			}
		}, []string{"an order earns once"}},
		{"a day sum edited by hand is reported", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, 0)
			exec(t, db, `INSERT INTO stores (id, code, name) VALUES ('00000000-0000-4000-8000-00000000000a', 'S1', 's')`)
			exec(t, db, `INSERT INTO orders (id, store_id, receipt_no, member_id, amount) VALUES ('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-00000000000a', 'R1', '00000000-0000-4000-8000-000000000001', 100)`)
			exec(t, db, `INSERT INTO point_transactions (member_id, kind, points, balance_after, order_id, idempotency_key)
				VALUES ('00000000-0000-4000-8000-000000000001', 'earn', 0, 0, '00000000-0000-4000-8000-0000000000b1', 'e1')`)
			exec(t, db, `INSERT INTO tier_points_by_day (member_id, day, points) VALUES ('00000000-0000-4000-8000-000000000001', '2026-01-01', 5)`)
		}, []string{"tier_points_by_day is the ledger's earn and refund points per member and UTC day"}},
		{"a balance_after that is not the running balance is reported", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, 50)
			entry(t, db, "adjust", 50, 40, "a", nil)
			exec(t, db, `INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
				SELECT member_id, id, 50, 50, now(), now() + interval '1 year' FROM point_transactions`)
		}, []string{"balance_after is the running balance, in the order entries were posted"}},
		{"a debit other than a refund below zero is reported, once the table's guard is dropped", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, `ALTER TABLE point_transactions DROP CONSTRAINT point_transactions_balance_check`)
			exec(t, db, member, -10)
			entry(t, db, "adjust", -10, -10, "a", nil)
		}, []string{"only a refund leaves a balance below zero"}},
		{"a refund of points already spent leaves a debt, which is no violation", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, -10)
			order(t, db)
			entry(t, db, "earn", 10, 10, "e", ptr(orderID))
			entry(t, db, "adjust", -10, 0, "spent", nil)
			entry(t, db, "refund", -10, -10, "r", ptr(orderID))
		}, nil},
		{"a refund of more than the order earned is reported", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, -20)
			order(t, db)
			entry(t, db, "earn", 10, 10, "e", ptr(orderID))
			entry(t, db, "refund", -30, -20, "r", ptr(orderID))
		}, []string{"refunds never reverse more than the order earned"}},
		{"a coupon without its redemption is reported", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, 0)
			coupon(t, db)
		}, []string{"every redemption has its coupon, and every coupon its redemption"}},
		{"a coupon redeemed twice is reported", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, 0)
			credit(t, db, "a", 100)
			coupon(t, db)
			entry(t, db, "redeem", -10, 90, "r1", ptr(couponID))
			entry(t, db, "redeem", -10, 80, "r2", ptr(couponID))
			exec(t, db, `UPDATE members SET points_balance = 80`)
			exec(t, db, `UPDATE point_lots SET remaining = 80`)
		}, []string{"every redemption has its coupon, and every coupon its redemption"}},
		{"a coupon redeemed once breaks nothing", func(t *testing.T, db *pgxpool.Pool) {
			exec(t, db, member, 0)
			credit(t, db, "a", 100)
			coupon(t, db)
			entry(t, db, "redeem", -10, 90, "r1", ptr(couponID))
			exec(t, db, `UPDATE members SET points_balance = 90`)
			exec(t, db, `UPDATE point_lots SET remaining = 90`)
		}, nil},
	}
	// Every rule is broken by at least one case, so none can go blind unnoticed.
	for _, r := range invariants.Rules {
		if !slices.ContainsFunc(tests, func(tt brokenCase) bool { return slices.Contains(tt.rules, r.Name) }) {
			t.Errorf("no case breaks the rule %q", r.Name)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := pgtest.Pool(t)
			tt.setup(t, db)
			vs, err := invariants.Check(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vs {
				got = append(got, v.Rule)
				if v.Key == "" || v.Got == "" || v.Want == "" {
					t.Errorf("violation without its detail: %+v", v)
				}
			}
			if !slices.Equal(got, tt.rules) {
				t.Errorf("broken rules %q, want %q (%v)", got, tt.rules, vs)
			}
		})
	}
}

// A hotfix checks inside its transaction, before commit: Check sees what the transaction did.
func TestCheckSeesTheChangesOfTheTransactionItRunsIn(t *testing.T) {
	db := pgtest.Pool(t)
	ctx := context.Background()
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, member, 7); err != nil {
		t.Fatal(err)
	}
	vs, err := invariants.Check(ctx, tx)
	if err != nil || len(vs) != 2 {
		t.Fatalf("inside the transaction: %v, %v; want the ledger and lots rules broken", vs, err)
	}
	if vs, err := invariants.Check(ctx, db); err != nil || len(vs) != 0 {
		t.Fatalf("outside it: %v, %v; want nothing", vs, err)
	}
}
