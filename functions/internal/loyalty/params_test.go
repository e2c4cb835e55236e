package loyalty

import (
	"context"
	"strings"
	"testing"

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
		"earn by member code": {tierPointsOfSQL.text(memberCond{`m.member_code = $1 AND m.deleted_at IS NULL`, 1}), `'1234567890', now()`},
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
