package liability_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/liability"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// seed writes members members with lotsEach open lots of 10 points each, earned over the
// last 15 months and expiring over the next 200 days, with their ledger entries.
func seed(tb testing.TB, db *pgxpool.Pool, members, lotsEach int) {
	tb.Helper()
	ctx := context.Background()
	for i, sql := range []string{
		`INSERT INTO members (id, member_code, display_name, points_balance)
		 SELECT gen_random_uuid(), lpad(i::text, 10, '0'), 'member ' || i, 10 * $2 FROM generate_series(1, $1::int) i`,
		`WITH t AS (
			INSERT INTO point_transactions (member_id, kind, points, balance_after, reason, idempotency_key, created_at)
			SELECT m.id, 'adjust', 10, 10 * k, 'seed', 'seed:' || m.id || ':' || k, now() - (random() * 450) * interval '1 day'
			FROM members m CROSS JOIN generate_series(1, $1::int) k ORDER BY m.id, k
			RETURNING id, member_id, created_at)
		 INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
		 SELECT member_id, id, 10, 10, created_at, now() + (random() * 200) * interval '1 day' FROM t`,
	} {
		args := []any{lotsEach}
		if i == 0 {
			args = []any{members, lotsEach}
		}
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			tb.Fatal(err)
		}
	}
	// As autovacuum leaves a table that has settled, so the sums are index-only scans.
	if _, err := db.Exec(ctx, `VACUUM ANALYZE point_lots, point_transactions, members`); err != nil {
		tb.Fatal(err)
	}
}

func TestTheReportAddsUpEveryOpenLot(t *testing.T) {
	db := pgtest.Pool(t)
	seed(t, db, 50, 4)
	r, err := liability.Read(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	var earned int64
	for _, m := range r.Months {
		earned += m.Earned
	}
	if r.Summary.Outstanding != 2000 || r.Summary.Expiring90 > r.Summary.Outstanding || len(r.Months) != 12 || earned == 0 || earned > 2000 {
		t.Fatalf("report %+v", r)
	}
	if err := liability.Chart(r, filepath.Join(t.TempDir(), "x.pdf")); err == nil {
		t.Error("a .pdf chart was written")
	}
}

// BenchmarkLiabilityReportOnAMillionLots is `loyaltyctl report liability --out x.png` on
// 1,000,000 open lots (and as many ledger entries) of 100,000 members: both queries and
// the chart.
func BenchmarkLiabilityReportOnAMillionLots(b *testing.B) {
	db := pgtest.Pool(b)
	seed(b, db, 100_000, 10)
	out := filepath.Join(b.TempDir(), "liability.png")
	ctx := context.Background()
	for b.Loop() {
		r, err := liability.Read(ctx, db)
		if err != nil {
			b.Fatal(err)
		}
		if r.Summary.Outstanding != 10_000_000 {
			b.Fatalf("outstanding %d", r.Summary.Outstanding)
		}
		if err := liability.Chart(r, out); err != nil {
			b.Fatal(err)
		}
	}
}
