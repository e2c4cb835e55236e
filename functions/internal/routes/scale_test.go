package routes_test

// BenchmarkScale (make bench-scale) seeds a database the size of a large chain after two
// years and times, at that size and on a small database of the same shape, what grows with
// the data: an earn and a redemption through the handler, the member's history as the app
// asks Hasura for it, and every nightly cron. It prints both sets of figures and their ratio.
// docs/scaling.md has the method and the figures.
//
// It runs only with SCALE_MEMBERS set (make bench-scale sets 1,000,000): seeding that size
// takes many minutes and several GB. SCALE_SMALL_MEMBERS (default 10,000) is the small
// database; SCALE_SECONDS (default 5) how long each call is repeated. SCALE_KEEP=1 keeps the
// large database (in a cluster that outlives the run: PGTEST_DATA_DIR or TEST_DATABASE_URL)
// and measures it again on later runs instead of seeding it anew; its crons are then not
// measured, since the run that seeded it already did that night's work. Before measuring,
// the pages an earn or a redemption reads are read into memory (warmHotSet);
// SCALE_PREWARM=0 measures without.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/migrate"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/hasura"
)

func envInt(b testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive whole number", name, s)
	}
	return n
}

// The seed, in SQL and set-based (no row-by-row inserts from Go). Every member i of
// 1..$1 gets n = 10..30 ledger entries (20 on average) over the two years before $2 (now),
// in cycles of four earns and one redemption that spends exactly the cycle's four lots, so:
//
//   - balances are the sum of the ledger, balance_after its running sum in seq order, and
//     the open lots (the last, unfinished cycle's) hold the balance;
//   - no lot outlives its 365 days unspent, except tonight's: members with i % 365 = 0 stopped
//     coming a year ago and their one open lot expires in the last day (the night's
//     expire_points), and members with i % 365 = 1 kept their last coupon unused until it
//     expired in the last day (the night's expire_coupons);
//   - members with i % 10 = 3 are silver and earn enough (300 points an earn) to keep it, so
//     tier_review has a tenth of the members to review and moves none; birthdays are spread
//     over the year (the night's birthday_bonus).
//
// Every earn has its order (one of 50 stores, amount 100 per point) and every redemption its
// coupon. Rows go in in created_at order, as two years of traffic would have left them.
// Constraints and foreign keys stay on. The one trigger turned off while loading is
// point_transactions_tier_points, whose table is then filled by the very statement its
// migration (1764206000000_tier_points_by_day) backfills it with; the invariants are checked
// afterwards.
var scaleSeed = []struct{ what, sql string }{
	{"settings", `SET work_mem = '512MB'; SET maintenance_work_mem = '1GB'`},
	{"luhn", `CREATE FUNCTION pg_temp.luhn(body text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
		SELECT body || ((10 - sum(CASE WHEN (8 - j) % 2 = 0
			THEN (CASE WHEN substr(body, j + 1, 1)::int * 2 > 9 THEN substr(body, j + 1, 1)::int * 2 - 9 ELSE substr(body, j + 1, 1)::int * 2 END)
			ELSE substr(body, j + 1, 1)::int END) % 10) % 10)::text
		FROM generate_series(0, 8) j $$`},
	{"stores", `
		CREATE TEMP TABLE scale_stores AS
		SELECT i, gen_random_uuid() AS id FROM generate_series(0, 49) i;
		INSERT INTO stores (id, code, name, timezone) SELECT id, 'SCALE-' || i, 'Scale store ' || i, 'Asia/Tokyo' FROM scale_stores;
		INSERT INTO rewards (id, name, points_cost, coupon_valid_days) VALUES ('5ca1e000-0000-4000-8000-000000000001', 'Scale reward', 40, 30)`},
	{"members (staging)", `
		CREATE TEMP TABLE scale_members AS
		SELECT i, gen_random_uuid() AS id, pg_temp.luhn(lpad(i::text, 9, '0')) AS code,
		       CASE WHEN i % 365 = 0 THEN n - (n - 1) % 5 ELSE n END AS n,
		       i % 365 = 0 AS lapsed, i % 365 = 1 AS coupon_lapsed, i % 10 = 3 AS silver
		FROM (SELECT i, 10 + (i::bigint * 7919 % 21)::int AS n FROM generate_series(1, @members::int) i) x`},
	// Entry k of member i: slot k of n over the member's span, at a fraction 0.1..0.9 of the
	// slot; lapsed members' span ends exactly at tonight's expiry minus up to 0.9 days.
	{"entries (staging)", `
		CREATE UNLOGGED TABLE scale_entries AS
		SELECT e.*, sum(points) OVER (PARTITION BY member_id ORDER BY k) AS balance_after,
		       gen_random_uuid() AS tx_id,
		       CASE WHEN kind = 'earn' THEN gen_random_uuid() END AS order_id,
		       CASE WHEN kind = 'redeem' THEN gen_random_uuid() END AS coupon_id
		FROM (
			SELECT m.id AS member_id, m.i, k, m.n, m.lapsed, m.coupon_lapsed,
			       CASE WHEN k % 5 = 0 THEN 'redeem' ELSE 'earn' END AS kind,
			       CASE WHEN k % 5 = 0
			            THEN -(SELECT sum(CASE WHEN m.silver THEN 300 ELSE 10 * (1 + (m.i + j) % 5) END) FROM generate_series(k - 4, k - 1) j)
			            ELSE CASE WHEN m.silver THEN 300 ELSE 10 * (1 + (m.i + k) % 5) END END AS points,
			       CASE WHEN m.lapsed
			            THEN @now::timestamptz - interval '730 days'
			                 + (k - 1) * ((interval '365 days' - (m.i % 1000) * interval '77 seconds') / (m.n - 1))
			            ELSE @now::timestamptz - interval '730 days'
			                 + (k - 1 + 0.1 + 0.8 * ((m.i * 31 + k * 17) % 100) / 100.0) * (interval '730 days' / m.n)
			       END AS created_at,
			       (m.i + k) % 50 AS store
			FROM scale_members m CROSS JOIN LATERAL generate_series(1, m.n) k
		) e`},
	{"members", `
		INSERT INTO members (id, member_code, display_name, birthday, tier_id, points_balance, created_at, referral_code)
		SELECT m.id, m.code, 'Scale member ' || m.i, date '1990-01-01' + (m.i % 365),
		       CASE WHEN m.silver THEN 'silver' ELSE 'member' END, b.balance,
		       b.first - interval '1 day',
		       -- m.i in base 30, in the referral codes alphabet: unique, where a million drawn
		       -- at random (the column default) collide about every other seed.
		       (SELECT string_agg(substr('23456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + ((m.i::bigint / (30::bigint ^ k)::bigint) % 30)::int, 1), '' ORDER BY k)
		        FROM generate_series(0, 7) k)
		FROM scale_members m JOIN (
			SELECT member_id, sum(points) AS balance, min(created_at) AS first FROM scale_entries GROUP BY member_id
		) b ON b.member_id = m.id
		ORDER BY b.first`},
	{"orders", `
		INSERT INTO orders (id, store_id, receipt_no, member_id, amount, status, paid_at)
		SELECT e.order_id, s.id, 'R-' || e.i || '-' || e.k, e.member_id, e.points * 100, 'paid', e.created_at
		FROM scale_entries e JOIN scale_stores s ON s.i = e.store
		WHERE e.kind = 'earn' ORDER BY e.created_at`},
	// Codes are a counter written in the coupon alphabet (30 letters, 8 places).
	{"coupons", `
		INSERT INTO coupons (id, code, member_id, reward_id, status, issued_at, expires_at, used_at, used_store_id)
		SELECT c.coupon_id, c.code, c.member_id, '5ca1e000-0000-4000-8000-000000000001',
		       CASE WHEN c.unused THEN 'issued' ELSE 'used' END, c.created_at,
		       CASE WHEN c.unused THEN @now::timestamptz - (c.i % 1000) * interval '50 seconds' ELSE c.created_at + interval '30 days' END,
		       CASE WHEN c.unused THEN NULL ELSE c.created_at + interval '1 hour' END,
		       CASE WHEN c.unused THEN NULL ELSE s.id END
		FROM (
			SELECT e.*, e.coupon_lapsed AND e.k = e.n - e.n % 5 AND e.created_at < @now::timestamptz - interval '2 days' AS unused,
			       (SELECT string_agg(substr('23456789ABCDEFGHJKMNPQRSTVWXYZ', (((e.i::bigint * 40 + e.k) / (30 ^ p)::bigint) % 30)::int + 1, 1), '' ORDER BY p)
			        FROM generate_series(0, 7) p) AS code
			FROM scale_entries e WHERE e.kind = 'redeem'
		) c JOIN scale_stores s ON s.i = c.store
		ORDER BY c.created_at`},
	{"ledger", `
		ALTER TABLE point_transactions DISABLE TRIGGER point_transactions_tier_points;
		INSERT INTO point_transactions (id, member_id, kind, points, balance_after, order_id, coupon_id, store_id, idempotency_key, created_at)
		SELECT e.tx_id, e.member_id, e.kind, e.points, e.balance_after, e.order_id, e.coupon_id,
		       CASE WHEN e.kind = 'earn' THEN s.id END,
		       CASE WHEN e.kind = 'earn' THEN 'earn:' || e.order_id ELSE 'redeem:' || e.member_id || ':scale-' || e.k END,
		       e.created_at
		FROM scale_entries e JOIN scale_stores s ON s.i = e.store
		ORDER BY e.created_at;
		INSERT INTO tier_points_by_day (member_id, day, points)
		SELECT member_id, (created_at AT TIME ZONE 'UTC')::date, sum(points)
		FROM point_transactions
		WHERE kind IN ('earn', 'refund') AND points <> 0
		GROUP BY 1, 2;
		ALTER TABLE point_transactions ENABLE TRIGGER point_transactions_tier_points`},
	// A cycle's lots are spent by its redemption; the unfinished last cycle's stay open.
	{"lots", `
		INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
		SELECT member_id, tx_id, points, CASE WHEN k > n - n % 5 THEN points ELSE 0 END,
		       created_at, created_at + interval '365 days'
		FROM scale_entries WHERE kind = 'earn' ORDER BY created_at`},
	{"drop staging", `DROP TABLE scale_entries; DROP TABLE scale_members; DROP TABLE scale_stores`},
	{"vacuum analyze", `VACUUM ANALYZE`},
	{"reset", `RESET work_mem; RESET maintenance_work_mem`},
}

// scaleDB opens the database at u with the binary's pool (database.Open), seeds it with
// members members unless seed is false (a kept database, seeded by an earlier run), and
// returns the pool and what the database holds.
func scaleDB(b *testing.B, u string, members int, now time.Time, seed bool) (*pgxpool.Pool, string) {
	b.Helper()
	db := productionPool(b, u)
	ctx := context.Background()
	conn, err := db.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	start := time.Now()
	for _, step := range scaleSeed {
		if !seed {
			break
		}
		t0 := time.Now()
		var err error
		if strings.Contains(step.sql, "@") {
			_, err = conn.Exec(ctx, step.sql, pgx.NamedArgs{"members": members, "now": now})
		} else {
			_, err = conn.Conn().PgConn().Exec(ctx, step.sql).ReadAll() // several statements
		}
		if err != nil {
			b.Fatalf("seed %s: %v", step.what, err)
		}
		b.Logf("seed %d members: %s in %s", members, step.what, time.Since(t0).Round(time.Millisecond))
	}
	var sizes string
	if err := conn.QueryRow(ctx, `
		SELECT format('%s members, %s ledger entries, %s lots (%s open), %s orders, %s coupons; database %s',
			(SELECT count(*) FROM members), (SELECT count(*) FROM point_transactions), (SELECT count(*) FROM point_lots),
			(SELECT count(*) FROM point_lots WHERE is_open), (SELECT count(*) FROM orders), (SELECT count(*) FROM coupons),
			pg_size_pretty(pg_database_size(current_database())))`).Scan(&sizes); err != nil {
		b.Fatal(err)
	}
	if seed {
		b.Logf("seeded in %s: %s", time.Since(start).Round(time.Second), sizes)
	}
	return db, sizes
}

// keptScaleDB is the large database of SCALE_KEEP: scale_<members>, seeded on the first run
// and marked as such in its comment, with the migration its schema is at. A later run reuses
// it; when this checkout has newer migrations, it applies them first, as a release would to
// the production database, and logs how long each took (a migration that rewrites a large
// table is measured this way). A database of another size, or at a migration this checkout
// does not have, is refused. seeded reports whether this run seeded it.
func keptScaleDB(b *testing.B, members int, now time.Time) (db *pgxpool.Pool, sizes string, seeded bool) {
	b.Helper()
	name := fmt.Sprintf("scale_%d", members)
	migrations, err := migrate.Load(hasura.Migrations())
	if err != nil {
		b.Fatal(err)
	}
	newest := migrations[len(migrations)-1].Version
	u, created := pgtest.Kept(b, name)
	if created {
		db, sizes = scaleDB(b, u, members, now, true)
		markKept(b, db, name, keptMark(members, newest))
		return db, sizes, true
	}
	// The mark first: a database that is not the one asked for is refused before it is counted.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var comment *string
	if err := conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, name).Scan(&comment); err != nil {
		b.Fatal(err)
	}
	at, err := keptAt(comment, members, newest)
	if err != nil {
		b.Fatalf("kept database %s: %v: remove the kept folder (or DROP DATABASE %s in it) and run again to seed it anew", name, err, name)
	}
	for i, m := range migrations {
		if m.Version <= at {
			continue
		}
		t0 := time.Now()
		if _, err := migrate.Up(ctx, conn, migrations[:i+1]); err != nil {
			b.Fatalf("kept database %s: %v", name, err)
		}
		b.Logf("kept database %s: migration %d_%s applied in %s", name, m.Version, m.Name, time.Since(t0).Round(time.Millisecond))
	}
	if at < newest {
		// What autovacuum would do soon after a release: a rewritten table has no visibility
		// map and no hint bits yet, which the first calls would otherwise pay for.
		t0 := time.Now()
		if _, err := conn.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
			b.Fatal(err)
		}
		b.Logf("kept database %s: VACUUM (ANALYZE) after the migrations in %s", name, time.Since(t0).Round(time.Millisecond))
	}
	db, sizes = scaleDB(b, u, members, now, false)
	markKept(b, db, name, keptMark(members, newest))
	b.Logf("kept database %s, seeded by an earlier run: %s", name, sizes)
	return db, sizes, false
}

// keptMark is the comment of a kept database of members members whose schema is at migration
// version: seeded under it, or migrated to it since.
func keptMark(members int, version int64) string {
	return fmt.Sprintf("seeded by BenchmarkScale with %d members under migration %d", members, version)
}

// keptAt is the migration the kept database with comment is at, when it holds members members
// and that migration is not newer than newest.
func keptAt(comment *string, members int, newest int64) (int64, error) {
	if comment == nil {
		return 0, fmt.Errorf("no mark (its seed did not finish)")
	}
	var n int
	var at int64
	if _, err := fmt.Sscanf(*comment, "seeded by BenchmarkScale with %d members under migration %d", &n, &at); err != nil || keptMark(n, at) != *comment {
		return 0, fmt.Errorf("marked %q, not by BenchmarkScale", *comment)
	}
	if n != members {
		return 0, fmt.Errorf("seeded with %d members, not %d", n, members)
	}
	if at > newest {
		return 0, fmt.Errorf("at migration %d, newer than this checkout's newest (%d)", at, newest)
	}
	return at, nil
}

func markKept(b *testing.B, db *pgxpool.Pool, name, mark string) {
	b.Helper()
	ctx := context.Background()
	var comment string // COMMENT takes no parameters: quoted by PostgreSQL itself
	if err := db.QueryRow(ctx, `SELECT format('COMMENT ON DATABASE %I IS %L', $1::text, $2::text)`, name, mark).Scan(&comment); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, comment); err != nil {
		b.Fatal(err)
	}
}

// memberHistorySQL is the SQL Hasura runs for the member app's MemberHistory operation
// (hasura/metadata/query_collections.yaml) under the member role: the permission's filter
// member_id = X-Hasura-User-Id, order_by created_at desc (NULLS FIRST, Hasura's default, as
// point_transactions_member_created_idx is ordered), limit 50 (under the permission's 200),
// and the store (active = true, the member's filter on stores) and order (member_id filter)
// relationships as lateral joins, the whole answer built as JSON in PostgreSQL.
const memberHistorySQL = `
	SELECT coalesce(json_agg("root" ORDER BY "root.pg.created_at" DESC NULLS FIRST), '[]')
	FROM (
		SELECT row_to_json((SELECT "_e" FROM (SELECT b.id, b.kind, b.points, b.balance_after, b.reason, b.created_at, b.coupon_id,
		                                             s.store AS store, o.order AS "order") AS "_e")) AS "root",
		       b.created_at AS "root.pg.created_at"
		FROM (SELECT * FROM public.point_transactions WHERE member_id = $1::uuid ORDER BY created_at DESC NULLS FIRST LIMIT 50) AS b
		LEFT OUTER JOIN LATERAL (
			SELECT row_to_json((SELECT "_e" FROM (SELECT x.id, x.name) AS "_e")) AS store
			FROM (SELECT * FROM public.stores WHERE b.store_id = id AND active = true LIMIT 1) x) AS s ON true
		LEFT OUTER JOIN LATERAL (
			SELECT row_to_json((SELECT "_e" FROM (SELECT x.receipt_no, x.amount, x.paid_at) AS "_e")) AS "order"
			FROM (SELECT * FROM public.orders WHERE b.order_id = id AND member_id = $1::uuid LIMIT 1) x) AS o ON true
		ORDER BY "root.pg.created_at" DESC NULLS FIRST
	) AS "_root"`

// expiringPointsSQL is the app's ExpiringPoints operation under the member role: the
// permission's filter (member_id, is_open) and the operation's where (remaining > 0).
const expiringPointsSQL = `
	SELECT coalesce(json_agg("root" ORDER BY "root.pg.expires_at" ASC NULLS LAST), '[]')
	FROM (
		SELECT row_to_json((SELECT "_e" FROM (SELECT b.id, b.remaining, b.expires_at) AS "_e")) AS "root", b.expires_at AS "root.pg.expires_at"
		FROM (SELECT * FROM public.point_lots
		      WHERE ((member_id = $1::uuid) AND (is_open = ('true')::boolean)) AND (remaining > ('0')::bigint)
		      ORDER BY expires_at ASC NULLS LAST LIMIT 20) AS b
	) AS "_root"`

type scaleFigure struct {
	name  string
	r     sbsResult // for repeated calls
	once  time.Duration
	note  string
	isRun bool // a cron delivery, timed once
}

// scaleFigures measures one seeded database.
// crons false leaves the crons out (a kept database whose night is done); prewarm reads the
// hot set into memory first (warmHotSet).
func scaleFigures(b *testing.B, db *pgxpool.Pool, now time.Time, d time.Duration, crons, prewarm bool) []scaleFigure {
	b.Helper()
	ctx := context.Background()
	fx := serveOn(b, db, 32) // the handler over HTTP on this database, with a store and its crew
	var sample []benchMember
	rows, err := db.Query(ctx, `SELECT id::text, member_code FROM members WHERE points_balance >= 10 ORDER BY random() LIMIT 2000`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var m benchMember
		if err := rows.Scan(&m.id, &m.code); err != nil {
			b.Fatal(err)
		}
		sample = append(sample, m)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if len(sample) == 0 {
		b.Fatal("no member to sample")
	}
	rand.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	fx.members = sample
	var reward string
	if err := db.QueryRow(ctx, `INSERT INTO rewards (name, points_cost) VALUES ('Scale bench reward', 1) RETURNING id`).Scan(&reward); err != nil {
		b.Fatal(err)
	}
	fx.reward = reward
	var out []scaleFigure
	if prewarm {
		out = append(out, scaleFigure{name: "pages read into memory first", isRun: true, once: warmHotSet(b, db)})
	}
	add := func(name string, r sbsResult) { out = append(out, scaleFigure{name: name, r: r}) }
	// withReads is add, with the pages the calls read from outside shared_buffers (by
	// relation) and from disk in the figure's note.
	withReads := func(name string, op func(i int64) error) {
		var calls atomic.Int64
		before := readPages(b, db)
		r := drive(b, name, 1, d, func(i int64) error { calls.Add(1); return op(i) })
		out = append(out, scaleFigure{name: name, r: r, note: readPages(b, db).since(before, calls.Load())})
	}
	withReads("earnPoints, HTTP, 1 caller", func(i int64) error {
		return fx.earnHTTP("SC-1-"+strconv.FormatInt(i, 10), fx.member(i))
	})
	add("earnPoints, HTTP, 32 callers", drive(b, "earn", 32, d, func(i int64) error {
		return fx.earnHTTP("SC-32-"+strconv.FormatInt(i, 10), fx.member(i))
	}))
	withReads("redeemReward, HTTP, 1 caller", func(i int64) error {
		return fx.redeemHTTP("SC-"+strconv.FormatInt(i, 10), fx.member(i))
	})
	add("MemberHistory (latest 50), 1 caller", drive(b, "history", 1, d, func(i int64) error {
		var raw []byte
		return db.QueryRow(ctx, memberHistorySQL, fx.member(i).id).Scan(&raw)
	}))
	add("MemberHistory (latest 50), 32 callers", drive(b, "history", 32, d, func(i int64) error {
		var raw []byte
		return db.QueryRow(ctx, memberHistorySQL, fx.member(i).id).Scan(&raw)
	}))
	add("ExpiringPoints, 1 caller", drive(b, "expiring", 1, d, func(i int64) error {
		var raw []byte
		return db.QueryRow(ctx, expiringPointsSQL, fx.member(i).id).Scan(&raw)
	}))
	if !crons {
		return out
	}
	// The nightly crons, in their order of the night, one delivery each with the budget of
	// a whole hour (so a delivery does all of the night's work), scheduled tonight.
	budget := map[string]int{"budget_seconds": 3600}
	for _, c := range []struct {
		name    string
		payload any
	}{
		{"expire_points", budget}, {"expire_coupons", map[string]int{}}, {"birthday_bonus", map[string]int{}},
		{"tier_review", budget}, {"expiry_reminders", budget}, {"housekeeping", budget},
	} {
		req := hasuratest.CronRequest(b, c.name, now, c.payload)
		t0 := time.Now()
		rec := hasuratest.Do(b, fx.srv.Config.Handler, req)
		took := time.Since(t0)
		if rec.Code != 200 {
			b.Fatalf("%s: status %d: %s", c.name, rec.Code, rec.Body)
		}
		out = append(out, scaleFigure{name: "cron " + c.name, once: took, isRun: true, note: compactJSON(rec.Body.Bytes())})
	}
	return out
}

// pageReads is what the database has read from outside shared_buffers so far, by table or
// index (pg_statio_user_*), its transactions, and what this machine read from disk (KB,
// /proc/vmstat pgpgin).
type pageReads struct {
	byRelation   map[string]int64
	transactions int64
	diskKB       int64
}

// statsFlush is how long to wait for the server's backends to publish their counters: an idle
// backend flushes them within a second (PGSTAT_MIN_INTERVAL in PostgreSQL 15).
const statsFlush = 2 * time.Second

func readPages(b *testing.B, db *pgxpool.Pool) pageReads {
	b.Helper()
	time.Sleep(statsFlush)
	ctx := context.Background()
	p := pageReads{byRelation: map[string]int64{}}
	rows, err := db.Query(ctx, `
		SELECT relname, heap_blks_read FROM pg_statio_user_tables
		UNION ALL SELECT indexrelname, idx_blks_read FROM pg_statio_user_indexes`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var name string
		var n *int64
		if err := rows.Scan(&name, &n); err != nil {
			b.Fatal(err)
		}
		if n != nil {
			p.byRelation[name] = *n
		}
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&p.transactions); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile("/proc/vmstat")
	if err == nil {
		for line := range strings.Lines(string(raw)) {
			if rest, ok := strings.CutPrefix(line, "pgpgin "); ok {
				p.diskKB, _ = strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			}
		}
	}
	return p
}

// since says per call what was read between before and p: the relations with the most pages
// read from outside shared_buffers, all of them together, and KB from disk. The transactions
// counted (the calls', the counters' own reads) show the counters were published.
func (p pageReads) since(before pageReads, calls int64) string {
	type rel struct {
		name  string
		pages int64
	}
	var rels []rel
	var total int64
	for name, n := range p.byRelation {
		if d := n - before.byRelation[name]; d > 0 {
			rels = append(rels, rel{name, d})
			total += d
		}
	}
	slices.SortFunc(rels, func(a, b rel) int { return cmp.Compare(b.pages, a.pages) })
	per := func(n int64) float64 { return float64(n) / float64(max(calls, 1)) }
	var parts []string
	for _, r := range rels[:min(len(rels), 8)] {
		parts = append(parts, fmt.Sprintf("%s %.2f", r.name, per(r.pages)))
	}
	return fmt.Sprintf("%d calls (%d transactions): %.2f pages read per call from outside shared_buffers (%s), %.1f KB per call from disk",
		calls, p.transactions-before.transactions, per(total), strings.Join(parts, ", "), per(p.diskKB-before.diskKB))
}

// memberKeyed are the relations an earn or a redemption reads at the member's own place, a
// page per member among a million others': the member's row and its keys, and the indexes
// that list a member's orders, ledger entries, open lots, tier points by day and coupons.
// Everything else an earn touches is small (settings, tiers, stores) or the newest pages of a
// table or of an index on a time-ordered key, which every call touches.
var memberKeyed = []string{
	"members", "members_pkey", "members_member_code_key",
	"orders_member_id_idx", "point_transactions_member_created_idx", "point_lots_member_open_idx",
	"tier_points_by_day_pkey", "coupons_member_issued_at_idx", "coupons_member_reward_idx",
}

// redemptionKeyed are the indexes a redemption writes at a place no other call keeps in
// memory: the ledger's idempotency key (a redemption's starts with the member's id) and the
// coupon's code (drawn at random). The redemption also reads the member's open lots, on the
// heap of point_lots (hotSetSQL).
var redemptionKeyed = []string{"point_transactions_idempotency_key_key", "coupons_code_key"}

// hotSetRelations are the relations the hot set reads whole: memberKeyed and redemptionKeyed.
func hotSetRelations() []string {
	return slices.Concat(memberKeyed, redemptionKeyed)
}

// hotSetSQL reads into the operating system's cache (pg_prewarm's "read" mode, not into
// shared_buffers) the relations named in $1 (hotSetRelations), and the pages of point_lots
// from the oldest open lot's on (none when no lot is open): the last year's lots, which every
// redemption, the nightly expire_points and the liability report read. It returns how many
// pages it read.
const hotSetSQL = `SELECT (SELECT coalesce(sum(pg_prewarm(c.oid, 'read')), 0) FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1))::bigint
	+ coalesce((SELECT pg_prewarm('public.point_lots', 'read', 'main', f.first, NULL)
		FROM (SELECT min((ctid::text::point)[0])::bigint AS first FROM public.point_lots WHERE is_open) f
		WHERE f.first IS NOT NULL), 0)`

// warmHotSet reads the hot set (hotSetSQL) into memory and returns how long that took: at
// 1,000,000 members 3.4 GB of memberKeyed, 1.9 GB of redemptionKeyed and 0.6 GB of open lots,
// what an instance sized for the chain (docs/scaling.md) holds in memory. A chain's traffic
// keeps them there: each page of memberKeyed holds the entries of tens to hundreds of
// members, so at a million members' visits a page is read every few hours; the others are
// written by every redemption and read by every night's crons. Right after the seed they need
// not be: the seed's VACUUM read the whole of the heaps after them. The pages a call still
// reads from disk are reported with it (pageReads).
func warmHotSet(b *testing.B, db *pgxpool.Pool) time.Duration {
	b.Helper()
	ctx := context.Background()
	t0 := time.Now()
	if _, err := db.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_prewarm`); err != nil {
		b.Fatal(err)
	}
	rels := hotSetRelations()
	var pages int64
	if err := db.QueryRow(ctx, hotSetSQL, rels).Scan(&pages); err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	b.Logf("read %d pages (%d MB) of %s and the open lots into memory in %s", pages, pages*8/1024, strings.Join(rels, ", "), took.Round(time.Millisecond))
	return took
}

func compactJSON(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func BenchmarkScale(b *testing.B) {
	if os.Getenv("SCALE_MEMBERS") == "" {
		b.Skip("seeds a large database: set SCALE_MEMBERS (make bench-scale)")
	}
	withPodGC(b)
	large := envInt(b, "SCALE_MEMBERS", 1_000_000)
	small := envInt(b, "SCALE_SMALL_MEMBERS", 10_000)
	d := time.Duration(envInt(b, "SCALE_SECONDS", 5)) * time.Second
	// Tonight: a quarter past midnight in Tokyo, the time of the night's first crons.
	now := time.Now().UTC().Truncate(time.Microsecond)
	// Both are seeded first, then measured one after the other, so that neither is measured
	// while the machine is still busy with the other's seed.
	var dbs [2]*pgxpool.Pool
	var sizes [2]string
	dbs[0], sizes[0] = scaleDB(b, pgtest.URL(b), small, now, true)
	crons, prewarm := true, os.Getenv("SCALE_PREWARM") != "0"
	if os.Getenv("SCALE_KEEP") != "" {
		dbs[1], sizes[1], crons = keptScaleDB(b, large, now)
	} else {
		dbs[1], sizes[1] = scaleDB(b, pgtest.URL(b), large, now, true)
	}
	lt.CheckInvariants(b, dbs[0])
	var figures [2][]scaleFigure
	for i, members := range []int{small, large} {
		b.Run(fmt.Sprintf("members%d", members), func(b *testing.B) {
			figures[i] = scaleFigures(b, dbs[i], now, d, crons, prewarm)
			lt.CheckInvariants(b, dbs[i])
		})
	}
	printScale(os.Stdout, sizes, figures)
}

func printScale(w io.Writer, sizes [2]string, figures [2][]scaleFigure) {
	fmt.Fprintf(w, "\nsmall: %s\nlarge: %s\n\n", sizes[0], sizes[1])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tsmall\tlarge\tlarge/small\t")
	for i := range figures[0] {
		if i >= len(figures[1]) {
			break
		}
		s, l := figures[0][i], figures[1][i]
		if s.isRun {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t\n", s.name, s.once.Round(time.Millisecond), l.once.Round(time.Millisecond), l.once.Seconds()/s.once.Seconds())
			continue
		}
		fmt.Fprintf(tw, "%s\t%.0f/s p50 %.2f p99 %.2f ms\t%.0f/s p50 %.2f p99 %.2f ms\t%.2f (p50)\t\n", s.name,
			s.r.perSecond(), ms(s.r.p50), ms(s.r.p99), l.r.perSecond(), ms(l.r.p50), ms(l.r.p99), ms(l.r.p50)/ms(s.r.p50))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for i := range figures[1] {
		if !figures[1][i].isRun && figures[1][i].note != "" {
			fmt.Fprintf(w, "%s:\n  small: %s\n  large: %s\n", figures[1][i].name, figures[0][i].note, figures[1][i].note)
		}
		if figures[1][i].isRun && figures[1][i].note != "" {
			fmt.Fprintf(w, "%s: small %s; large %s\n", figures[1][i].name, figures[0][i].note, figures[1][i].note)
		}
	}
	fmt.Fprintln(w)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// What a figure read is told per call, biggest relation first, and only what grew.
func TestPageReadsSinceSaysPerCallWhatGrew(t *testing.T) {
	before := pageReads{byRelation: map[string]int64{"members": 10, "members_pkey": 5, "orders": 7}, transactions: 100, diskKB: 1000}
	after := pageReads{byRelation: map[string]int64{"members": 30, "members_pkey": 45, "orders": 7, "new_idx": 4}, transactions: 110, diskKB: 1080}
	got := after.since(before, 10)
	want := "10 calls (10 transactions): 6.40 pages read per call from outside shared_buffers (members_pkey 4.00, members 2.00, new_idx 0.40), 8.0 KB per call from disk"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// The hot set is every page of the named relations, all of them the schema's (a renamed index
// would otherwise be left out without a word), and point_lots from the first page that holds
// an open lot: none of its pages when no lot is open.
func TestHotSetSQLReadsTheNamedRelationsAndTheOpenLotsPages(t *testing.T) {
	db := pgtest.Pool(t)
	lt.Exec(t, db, `CREATE EXTENSION IF NOT EXISTS pg_prewarm`)
	rels := hotSetRelations()
	if n := lt.Count(t, db, `SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = ANY($1)`, rels); n != int64(len(rels)) {
		t.Fatalf("%d of the %d relations %v are in the schema", n, len(rels), rels)
	}
	now := time.Now()
	seedLots(t, db, 300, 10, 0, now.AddDate(0, -1, 0), now) // 3,000 open lots
	lt.Exec(t, db, `UPDATE point_lots SET remaining = 0 WHERE (ctid::text::point)[0] < 3`)
	named := func() int64 {
		return lt.Count(t, db, `SELECT sum(pg_relation_size(c.oid) / 8192)::bigint FROM pg_class c
			WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1)`, rels)
	}
	warm := func() int64 { return lt.Count(t, db, hotSetSQL, rels) }
	lotPages := lt.Count(t, db, `SELECT pg_relation_size('point_lots') / 8192`)
	first := lt.Count(t, db, `SELECT min((ctid::text::point)[0])::bigint FROM point_lots WHERE is_open`)
	if first != 3 || lotPages < 6 {
		t.Fatalf("the first open lot is on page %d of %d, want page 3 of more than 5", first, lotPages)
	}
	if got, want := warm(), named()+lotPages-first; got != want {
		t.Errorf("with open lots from page %d of %d: read %d pages, want %d", first, lotPages, got, want)
	}
	lt.Exec(t, db, `UPDATE point_lots SET remaining = 0`)
	if got, want := warm(), named(); got != want {
		t.Errorf("with no lot open: read %d pages, want %d (the named relations alone)", got, want)
	}
}

// A kept database is reused at its migration or an older one (then migrated forward), and
// refused when its seed did not finish, when it is of another size or another benchmark's, or
// when it is at a migration this checkout does not have.
func TestKeptAtReadsTheMarkOfAKeptDatabase(t *testing.T) {
	mark := func(s string) *string { return &s }
	for _, c := range []struct {
		comment *string
		at      int64
		refusal string
	}{
		{mark(keptMark(1000, 1764207300000)), 1764207300000, ""},
		{mark(keptMark(1000, 1764207200000)), 1764207200000, ""},
		{nil, 0, "no mark (its seed did not finish)"},
		{mark(keptMark(2000, 1764207300000)), 0, "seeded with 2000 members, not 1000"},
		{mark(keptMark(1000, 1764207400000)), 0, "at migration 1764207400000, newer than this checkout's newest (1764207300000)"},
		{mark(keptMark(1000, 1764207300000) + " by hand"), 0, `marked "seeded by BenchmarkScale with 1000 members under migration 1764207300000 by hand", not by BenchmarkScale`},
		{mark("a database of someone else"), 0, `marked "a database of someone else", not by BenchmarkScale`},
	} {
		at, err := keptAt(c.comment, 1000, 1764207300000)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if at != c.at || got != c.refusal {
			shown := "no comment"
			if c.comment != nil {
				shown = *c.comment
			}
			t.Errorf("keptAt(%q) = %d, %q; want %d, %q", shown, at, got, c.at, c.refusal)
		}
	}
}
