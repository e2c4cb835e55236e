package loyalty_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// tier_points (day sums plus the ledger of the day the window starts in) must give exactly
// what summing the ledger gives, wherever the window's edge falls: on an entry's microsecond,
// just before or after it, at midnight UTC, and with refunds.
func TestTierPointsCountThe365DayWindowExactly(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	start := time.Date(2025, 3, 10, 23, 59, 59, 999_999_000, time.UTC)
	stamps := []time.Time{
		start,
		start.Add(time.Microsecond),           // midnight UTC: the next day's first instant
		start.Add(90 * time.Minute),           // the next day
		start.AddDate(0, 0, 1).Add(time.Hour), // two days on
		start.AddDate(0, 0, 200),
	}
	for i, at := range stamps {
		w.now = at
		must[loyalty.EarnPointsOutput](t)(w.earn(code, fmt.Sprintf("W-%d", i), int64(100*(i+1))))
	}
	w.now = stamps[2].Add(time.Minute)
	if _, err := w.svc.RefundOrder(context.Background(), w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "W-1"}); err != nil {
		t.Fatal(err)
	}
	var cuts []time.Time
	for _, at := range append(stamps, w.now) {
		edge := at.AddDate(0, 0, 365) // the window (edge-365d, edge] starts right at this entry
		cuts = append(cuts, edge.Add(-time.Microsecond), edge, edge.Add(time.Microsecond), edge.Add(12*time.Hour))
	}
	cuts = append(cuts, start.Add(-time.Hour), start.AddDate(2, 0, 0))
	for _, at := range cuts {
		got := lt.Count(t, w.db, `SELECT tier_points($1, $2)`, id, at)
		want := lt.Count(t, w.db, `SELECT coalesce(sum(points), 0) FROM point_transactions
			WHERE member_id = $1 AND kind IN ('earn', 'refund') AND created_at > $2::timestamptz - interval '365 days'`, id, at)
		if got != want {
			t.Errorf("tier_points at %s = %d; the ledger sums %d", at.Format(time.RFC3339Nano), got, want)
		}
	}
}

// An upgrade happens on exactly the earn whose points take the 365-day figure to min_points,
// counting neither points older than 365 days nor points a refund took back.
func TestTheUpgradeHappensOnTheEarnThatCrossesMinPoints(t *testing.T) {
	w := newWorld(t)
	_, code := lt.Member(t, w.db)
	t0 := w.now
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "old", 60_000)) // 600 points, out of the window later
	w.now = t0.AddDate(0, 0, 100)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "kept", 39_900)) // 399
	// A year and a microsecond after the first earn: only 399 count.
	w.now = t0.AddDate(0, 0, 365).Add(time.Microsecond)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "refunded", 50_000)) // 500: 899, then back to 399
	if _, err := w.svc.RefundOrder(context.Background(), w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "refunded"}); err != nil {
		t.Fatal(err)
	}
	out := must[loyalty.EarnPointsOutput](t)(w.earn(code, "below", 60_000)) // 600: 999
	if out.TierID != "member" {
		t.Fatalf("at 999 tier points the tier is %s, want member", out.TierID)
	}
	out = must[loyalty.EarnPointsOutput](t)(w.earn(code, "crossing", 100)) // 1: 1000
	if out.TierID != "silver" {
		t.Fatalf("the earn reaching 1000 tier points left the tier at %s, want silver", out.TierID)
	}
}

// tier_points reads a member's days from tier_points_by_day's key alone (an index-only scan),
// not from the heap, where a member's days lie on a page each among everyone else's.
func TestTierPointsReadTheDaysFromTheKeyAlone(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id, code := lt.Member(t, w.db)
	for i := range 5 {
		w.now = w.now.AddDate(0, 0, 1)
		must[loyalty.EarnPointsOutput](t)(w.earn(code, fmt.Sprintf("D-%d", i), 1000))
	}
	// As autovacuum leaves it: the visibility map set, so the heap need not be visited. The
	// test cluster commits asynchronously, and VACUUM marks a page all-visible only once the
	// commits of its rows are flushed: CHECKPOINT flushes them.
	lt.Exec(t, w.db, `CHECKPOINT`)
	lt.Exec(t, w.db, `VACUUM (ANALYZE) tier_points_by_day`)
	if n := lt.Count(t, w.db, `SELECT relallvisible::bigint FROM pg_class WHERE relname = 'tier_points_by_day'`); n == 0 {
		t.Fatal("VACUUM left no page of tier_points_by_day all-visible")
	}
	// A connection of its own, on which the function is planned for the first time, as on a
	// chain's table: this one is a few rows, where a sequential scan would be the cheapest.
	conn, err := pgx.ConnectConfig(ctx, w.db.Config().ConnConfig.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// Counters of this backend, read before and after in one transaction (they are not
	// reported while it is open).
	fetched := func() (heap, index int64) {
		t.Helper()
		if err := tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_fetched('tier_points_by_day_pkey'::regclass),
			pg_stat_get_xact_tuples_returned('tier_points_by_day_pkey'::regclass)`).Scan(&heap, &index); err != nil {
			t.Fatal(err)
		}
		return heap, index
	}
	heap0, index0 := fetched()
	var points int64
	if err := tx.QueryRow(ctx, `SELECT tier_points($1, $2)`, id, w.now).Scan(&points); err != nil {
		t.Fatal(err)
	}
	heap1, index1 := fetched()
	heap, index := heap1-heap0, index1-index0 // rows fetched from the heap, entries read from the key
	if points != 50 {
		t.Fatalf("tier_points = %d, want 50", points)
	}
	if heap != 0 || index == 0 {
		t.Fatalf("tier_points fetched %d rows of tier_points_by_day from the heap, %d entries from its key: want the key alone", heap, index)
	}
}
