// Package loyaltytest builds fixtures in a real database and checks the programme's
// invariants with SQL, for the tests of every package that changes points.
package loyaltytest

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
)

// Store creates an active store and returns its id.
func Store(t testing.TB, db *pgxpool.Pool) string {
	t.Helper()
	id := uuid.NewString()
	Exec(t, db, `INSERT INTO stores (id, code, name, timezone) VALUES ($1, $2, 'Test store', 'Asia/Tokyo')`, id, "S-"+id[:8])
	return id
}

// Staff makes a new user active staff of store with role (crew or manager), returns the user id.
func Staff(t testing.TB, db *pgxpool.Pool, storeID string, role loyalty.StaffRole) string {
	t.Helper()
	id := uuid.NewString()
	Exec(t, db, `INSERT INTO staff (user_id, store_id, role) VALUES ($1, $2, $3)`, id, storeID, string(role))
	return id
}

// Member registers a new member at tier member and returns the id and member code.
func Member(t testing.TB, db *pgxpool.Pool) (id, code string) {
	t.Helper()
	id, code = uuid.NewString(), loyalty.NewMemberCode()
	Exec(t, db, `INSERT INTO members (id, member_code, display_name) VALUES ($1, $2, 'Test member')`, id, code)
	return id, code
}

// RewardSpec describes a reward to create; zero values mean: 100 points, unlimited stock,
// no per-member limit, any tier, 30 days.
type RewardSpec struct {
	Cost           int64
	Stock          *int
	PerMemberLimit *int
	MinTierRank    int
	ValidDays      int
	StoreID        *string
}

// Reward creates an active reward and returns its id.
func Reward(t testing.TB, db *pgxpool.Pool, s RewardSpec) string {
	t.Helper()
	if s.Cost == 0 {
		s.Cost = 100
	}
	if s.ValidDays == 0 {
		s.ValidDays = 30
	}
	id := uuid.NewString()
	Exec(t, db, `INSERT INTO rewards (id, name, points_cost, stock, per_member_limit, min_tier_rank, coupon_valid_days, store_id)
		VALUES ($1, 'Test reward', $2, $3, $4, $5, $6, $7)`, id, s.Cost, s.Stock, s.PerMemberLimit, s.MinTierRank, s.ValidDays, s.StoreID)
	return id
}

// Admin is an operator's session.
var Admin = loyalty.Caller{Role: loyalty.RoleAdmin, UserID: "00000000-0000-4000-8000-00000000ad01"}

// Give credits points to a member with an admin adjustment.
func Give(t testing.TB, svc *loyalty.Service, memberID string, points int64) {
	t.Helper()
	_, err := svc.AdjustPoints(context.Background(), Admin, loyalty.AdjustPointsInput{
		MemberID: memberID, Points: points, Reason: "test credit", IdempotencyKey: uuid.NewString()})
	if err != nil {
		t.Fatalf("give %d points: %v", points, err)
	}
}

// Balance is the member's points_balance.
func Balance(t testing.TB, db *pgxpool.Pool, memberID string) int64 {
	t.Helper()
	var b int64
	scan(t, db, `SELECT points_balance FROM members WHERE id = $1`, []any{memberID}, &b)
	return b
}

// Count runs a count query.
func Count(t testing.TB, db *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	scan(t, db, sql, args, &n)
	return n
}

// invariants are the rules of product.md that hold always; each query returns the rows that
// break its rule.
var invariants = []struct{ rule, sql string }{
	{"points_balance is the sum of the member's ledger", `
		SELECT m.id::text, m.points_balance, coalesce(sum(t.points), 0)
		FROM members m LEFT JOIN point_transactions t ON t.member_id = m.id
		GROUP BY m.id HAVING m.points_balance <> coalesce(sum(t.points), 0)`},
	{"the lots hold max(balance, 0)", `
		SELECT m.id::text, greatest(m.points_balance, 0), coalesce(sum(l.remaining), 0)
		FROM members m LEFT JOIN point_lots l ON l.member_id = m.id
		GROUP BY m.id HAVING greatest(m.points_balance, 0) <> coalesce(sum(l.remaining), 0)`},
	{"balance_after is the running balance, in the order entries were posted", `
		SELECT id::text, balance_after, running FROM (
			SELECT id, balance_after, sum(points) OVER (PARTITION BY member_id ORDER BY seq) AS running
			FROM point_transactions) x
		WHERE balance_after <> running`},
	{"only a refund leaves a balance below zero", `
		SELECT id::text, kind, balance_after FROM point_transactions
		WHERE balance_after < 0 AND kind <> 'refund' AND points <= 0`},
	{"an order earns once", `
		SELECT order_id::text, count(*), 0 FROM point_transactions WHERE kind = 'earn' GROUP BY order_id HAVING count(*) > 1`},
	{"refunds never reverse more than the order earned", `
		SELECT order_id::text, sum(points) FILTER (WHERE kind = 'earn'), -sum(points) FILTER (WHERE kind = 'refund')
		FROM point_transactions WHERE order_id IS NOT NULL GROUP BY order_id
		HAVING coalesce(-sum(points) FILTER (WHERE kind = 'refund'), 0) > coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0)`},
	{"every redemption has its coupon, and every coupon its redemption", `
		SELECT c.id::text, count(t.id), 1 FROM coupons c LEFT JOIN point_transactions t ON t.coupon_id = c.id AND t.kind = 'redeem'
		GROUP BY c.id HAVING count(t.id) <> 1`},
}

// CheckInvariants fails the test for every row that breaks an invariant of product.md.
func CheckInvariants(t testing.TB, db *pgxpool.Pool) {
	t.Helper()
	for _, inv := range invariants {
		rows, err := db.Query(context.Background(), inv.sql)
		if err != nil {
			t.Fatalf("invariant %q: %v", inv.rule, err)
		}
		for rows.Next() {
			var id string
			var a, b any
			if err := rows.Scan(&id, &a, &b); err != nil {
				t.Fatal(err)
			}
			t.Errorf("invariant broken: %s: %s (%v vs %v)", inv.rule, id, a, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func scan(t testing.TB, db *pgxpool.Pool, sql string, args []any, dest ...any) {
	t.Helper()
	if err := db.QueryRow(context.Background(), sql, args...).Scan(dest...); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", sql, err))
	}
}

// Exec runs a statement, failing the test on error.
func Exec(t testing.TB, db *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
