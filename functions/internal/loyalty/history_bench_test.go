package loyalty_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

// An earn must not cost more for a regular than for a newcomer: the tier figure comes from
// day sums (tier_points), not from the member's year of ledger. Each iteration earns once for
// a member with no history and once for one with 10,000 ledger entries in the last 365 days,
// alternately, so drift on a shared machine falls on both alike; it reports both times and
// their ratio (the bound: regular/new within 1.2):
//
//	go test ./functions/internal/loyalty -run '^$' -bench EarnByHistory -benchtime 3000x -count 3
func BenchmarkEarnByHistory(b *testing.B) {
	db := pgtest.Pool(b)
	svc := loyalty.New(db)
	store := lt.Store(b, db)
	crew := loyalty.Caller{Role: loyalty.RoleStaff, UserID: lt.Staff(b, db, store, loyalty.Crew)}
	_, newcomerCode := lt.Member(b, db)
	regular, regularCode := lt.Member(b, db)
	seedHistory(b, db, store, regular, 10_000)
	earn := func(code, receipt string) time.Duration {
		start := time.Now()
		_, err := svc.EarnPoints(context.Background(), crew, loyalty.EarnPointsInput{StoreID: store, ReceiptNo: receipt, Amount: 1000, MemberCode: &code})
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var forNewcomer, forRegular time.Duration
	b.ResetTimer()
	for i := range b.N {
		forNewcomer += earn(newcomerCode, fmt.Sprintf("N-%d", i))
		forRegular += earn(regularCode, fmt.Sprintf("R-%d", i))
	}
	b.StopTimer()
	b.ReportMetric(float64(forNewcomer.Nanoseconds())/float64(b.N), "new-ns/earn")
	b.ReportMetric(float64(forRegular.Nanoseconds())/float64(b.N), "regular-ns/earn")
	b.ReportMetric(float64(forRegular)/float64(forNewcomer), "regular/new")
	lt.CheckInvariants(b, db)
}

// seedHistory gives the member n paid orders of the last 365 days, each earned 1 point (an
// order, its earn entry and its lot), in three statements.
func seedHistory(tb testing.TB, db *pgxpool.Pool, store, member string, n int) {
	tb.Helper()
	now := time.Now().UTC()
	lt.Exec(tb, db, `
		INSERT INTO orders (id, store_id, receipt_no, member_id, amount, status, paid_at)
		SELECT md5($2::uuid::text || i)::uuid, $1, 'H-' || i, $2::uuid, 100, 'paid', $3::timestamptz - make_interval(mins => i * 50)
		FROM generate_series(1, $4) i`, store, member, now, n)
	lt.Exec(tb, db, `
		INSERT INTO point_transactions (id, member_id, kind, points, balance_after, order_id, store_id, idempotency_key, created_at)
		SELECT md5('t' || $2::uuid::text || i)::uuid, $2::uuid, 'earn', 1, $4 - i + 1, md5($2::uuid::text || i)::uuid, $1, 'earn:' || md5($2::uuid::text || i)::uuid,
		       $3::timestamptz - make_interval(mins => i * 50)
		FROM generate_series($4, 1, -1) i`, store, member, now, n)
	lt.Exec(tb, db, `
		INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
		SELECT member_id, id, 1, 1, created_at, created_at + interval '365 days' FROM point_transactions
		WHERE member_id = $1 AND kind = 'earn'`, member)
	lt.Exec(tb, db, `UPDATE members SET points_balance = $2, tier_id = 'gold' WHERE id = $1`, member, n)
	lt.Exec(tb, db, `VACUUM ANALYZE`)
}
