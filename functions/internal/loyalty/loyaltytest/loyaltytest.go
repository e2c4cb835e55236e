// Package loyaltytest builds fixtures in a real database and checks the programme's
// invariants with SQL, for the tests of every package that changes points.
package loyaltytest

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/invariants"
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

// CheckInvariants fails the test for every row that breaks an invariant of product.md, as
// the invariants package (and so loyaltyctl) checks them.
func CheckInvariants(t testing.TB, db *pgxpool.Pool) {
	t.Helper()
	vs, err := invariants.Check(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("invariant broken: %s", v)
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
