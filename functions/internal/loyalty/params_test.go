package loyalty

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

// connOfFreshDatabase is a connection, configured as the functions' are, to a database of
// its own; released when the test ends.
func connOfFreshDatabase(t *testing.T) *pgxpool.Conn {
	t.Helper()
	conn, err := pgtest.Pool(t).Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	return conn
}

// The earn's and the review's tier points come from tier_points_window inlined into their
// statements: a function scan in the plan would mean PostgreSQL stopped inlining it (made
// PL/pgSQL, VOLATILE or STRICT) and calls it per member again.
func TestTierPointsWindowIsInlinedWhereTheFunctionsReadIt(t *testing.T) {
	ctx := context.Background()
	conn := connOfFreshDatabase(t)
	for name, q := range map[string]struct{ sql, args string }{
		"earn by member code": {tierFactsOfSQL.text(memberCond{`m.member_code = $1 AND m.deleted_at IS NULL`, 1}), `'1234567890', now()`},
		"tier review":         {reviewTiersSQL, `'{}', now(), current_date`},
	} {
		if _, err := conn.Exec(ctx, `DEALLOCATE ALL`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `PREPARE q AS `+q.sql); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan string
		if err := conn.QueryRow(ctx, `EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE q(`+q.args+`)`).Scan(&plan); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(plan, `"Function Scan"`) || strings.Contains(plan, "tier_points_window") || !strings.Contains(plan, "tier_points_by_day") {
			t.Errorf("%s: tier_points_window is not inlined:\n%s", name, plan)
		}
	}
}

// The tier facts come in one statement: the tiers as loadTiers reads them, in rank order,
// with the member's points; for no member, neither.
func TestTierFactsReadTheTiersAsLoadTiersDoes(t *testing.T) {
	ctx := context.Background()
	conn := connOfFreshDatabase(t)
	id := newID()
	if _, err := conn.Exec(ctx, `INSERT INTO members (id, member_code, display_name) VALUES ($1, $2, 'Tier facts')`, id, NewMemberCode()); err != nil {
		t.Fatal(err)
	}
	// A tier added out of rank order: the arrays must still come in rank order.
	if _, err := conn.Exec(ctx, `INSERT INTO tiers (id, name, rank, min_points, earn_multiplier_pct) VALUES ('zinc', 'Zinc', 99, 99999, 250)`); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	want, err := loadTiers(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 2 {
		t.Fatalf("the seeds give %d tiers, want several", len(want))
	}
	for _, who := range []struct {
		name     string
		id       string
		wantSome bool
	}{{"a member", id, true}, {"no member", newID(), false}} {
		points, tiers := int64(-1), []Tier(nil)
		b := &pgx.Batch{}
		queueTierFacts(b, `m.id = $1`, []any{who.id}, time.Now(), &points, &tiers)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			t.Fatal(err)
		}
		switch {
		case who.wantSome && (points != 0 || !slices.Equal(tiers, want)):
			t.Errorf("%s: points %d, tiers %+v; want 0 and %+v", who.name, points, tiers, want)
		case !who.wantSome && (points != -1 || tiers != nil):
			t.Errorf("%s: points %d, tiers %+v; want both left as they were", who.name, points, tiers)
		}
	}
}

// A redemption finds the lots it takes again by tuple id (a TID scan, as expire_points does),
// not through point_lots_pkey: at a large size those key pages are mostly on disk, one read
// per redemption (docs/scaling.md).
func TestARedemptionFindsTheLotsItTakesByTupleID(t *testing.T) {
	ctx := context.Background()
	conn := connOfFreshDatabase(t)
	// The fresh database's tables are empty, which a sequential scan reads best: planned as
	// for a table of any size instead.
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(ctx, `RESET enable_seqscan`) })
	for _, stocked := range []bool{false, true} {
		var plan string
		err := conn.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+redeemSQL.text(stocked), pgx.NamedArgs{
			"points": -10, "member_id": newID(), "min_tier_rank": 0, "reward_id": newID(), "tx_id": newID(), "kind": "redeem",
			"order_id": nil, "coupon_id": newID(), "store_id": nil, "reason": nil, "key": "plan", "at": time.Now(), "by": nil,
		}).Scan(&plan)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, `"Node Type": "Tid Scan"`) || strings.Contains(plan, "point_lots_pkey") {
			t.Errorf("stocked %v: the takes do not find their lots by tuple id:\n%s", stocked, plan)
		}
	}
}
