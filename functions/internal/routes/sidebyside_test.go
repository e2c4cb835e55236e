package routes_test

// BenchmarkSideBySide (make bench) measures in one run, on one throwaway PostgreSQL cluster:
//
//   - the machine's ceiling: pgbench's TPC-B-like script (scale 10, 32 clients, -M prepared),
//   - earnPoints through the real handler over real HTTP (httptest.NewServer, keep-alive
//     connections, the pool database.Open gives the binary), at 1 and 32 callers,
//   - the same earn as five bare statements through pgx on the same pool (lock the member,
//     insert the order, the ledger line and the lot, update the balance), at 1 and 32 callers,
//   - redeemReward at 64 callers for one member with a huge balance, every call with a new
//     idempotency key (the hot member),
//
// and prints a table of throughput, latency percentiles and each figure as a ratio to the
// pgbench ceiling. Every figure runs for SIDEBYSIDE_SECONDS (default 5) after a short warm-up,
// on a database of its own. The handler and its bare statements, whose ratio is the figure
// that matters, are measured in alternated rounds (sbsRounds) rather than one after the
// other, so that a slow spell of this shared machine falls on both and not on one.
// docs/benchmarks.md has the method and the figures.
//
// BenchmarkEarnPoolSettings (make bench-pool) runs earn through HTTP at 32 callers for pool
// sizes and pgx statement cache modes.
//
// Neither runs in `go test ./...` (benchmarks run only with -bench); the fast
// TestSideBySideEarnPathsMoveTheSameRows keeps the bare statements honest.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/server"
)

const (
	sbsMembers  = 2000 // earns are spread over them: 32 callers rarely wait for each other's member lock
	sbsHistory  = 3    // earns each member already has when a figure starts (sbsHistorySQL)
	sbsHotStart = 1_000_000_000
)

// sbsHistorySQL gives every member a past, set-based, before the tables are analysed:
// sbsHistory earns over the last weeks (order, ledger line, lot; tier_points_by_day by its
// trigger), then a redemption of the reward three days ago (a used coupon, the ledger line,
// the oldest lot debited). A chain's tables are never empty, and PostgreSQL plans by its
// statistics: on tables analysed empty it chose sequential scans (the tier-points sum, the
// foreign-key checks, the redemption replay's join to coupons), which grew costlier with
// every call of the run, for the handler that reads those tables and not for the bare
// statements that do not. Both paths start from this same history.
const sbsHistorySQL = `
	WITH m AS MATERIALIZED (
		SELECT id, coupon_code, gen_random_uuid() AS coupon_id FROM unnest(@members::uuid[], @coupons::text[]) AS x(id, coupon_code)
	), earns AS MATERIALIZED (
		SELECT m.id AS member_id, k, gen_random_uuid() AS order_id, gen_random_uuid() AS tx_id,
		       now() - (@history::int + 1 - k) * interval '7 days' AS at
		FROM m CROSS JOIN generate_series(1, @history::int) k
	), orders_made AS (
		INSERT INTO orders (id, store_id, receipt_no, member_id, amount, status, paid_at)
		SELECT order_id, @store::uuid, 'HIST-' || tx_id, member_id, @amount::bigint, 'paid', at FROM earns
	), coupons_made AS (
		INSERT INTO coupons (id, code, member_id, reward_id, status, issued_at, expires_at, used_at, used_store_id)
		SELECT coupon_id, coupon_code, id, @reward::uuid, 'used', now() - interval '3 days',
		       now() + interval '27 days', now() - interval '2 days', @store::uuid FROM m
	), entries_made AS (
		INSERT INTO point_transactions (id, member_id, kind, points, balance_after, order_id, coupon_id, store_id, idempotency_key, created_at, created_by)
		SELECT * FROM (
			SELECT tx_id, member_id, 'earn', @points::bigint, k * @points::bigint, order_id, NULL::uuid, @store::uuid, 'earn:' || order_id, at AS created_at, @crew::uuid
			FROM earns
			UNION ALL
			SELECT gen_random_uuid(), id, 'redeem', -@cost::bigint, @history::int * @points::bigint - @cost::bigint, NULL, coupon_id, NULL,
			       'redeem:' || id || ':history', now() - interval '3 days', NULL
			FROM m
		) e ORDER BY created_at
	), lots_made AS (
		INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
		SELECT member_id, tx_id, @points::bigint, @points::bigint - CASE WHEN k = 1 THEN @cost::bigint ELSE 0 END,
		       at, at + interval '365 days' FROM earns
	)
	UPDATE members SET points_balance = @history::int * @points::bigint - @cost::bigint
	WHERE id IN (SELECT id FROM m)`

// sbsDuration is how long each figure is measured, after sbsWarmup.
func sbsDuration(b testing.TB) time.Duration {
	if s := os.Getenv("SIDEBYSIDE_SECONDS"); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n <= 0 {
			b.Fatalf("SIDEBYSIDE_SECONDS=%q: want a positive number", s)
		}
		return time.Duration(n * float64(time.Second))
	}
	return 5 * time.Second
}

const sbsWarmup = 500 * time.Millisecond

// sbsRounds is how many rounds the handler's earn and the bare statements alternate in, each
// round d/sbsRounds long for each, in the order AB BA BA AB (so neither is always first, nor
// always measured nearer the start).
const sbsRounds = 4

// sbsResult is one measured figure.
type sbsResult struct {
	name     string
	callers  int
	ops      int
	seconds  float64
	p50, p99 time.Duration
	note     string
	lat      []time.Duration // every measured call's latency, sorted (none for pgbench)
}

// plus is r and more measured as one figure: their calls, windows and latencies together.
func (r sbsResult) plus(more sbsResult) sbsResult {
	r.ops += more.ops
	r.seconds += more.seconds
	r.lat = slices.Concat(r.lat, more.lat)
	slices.Sort(r.lat)
	r.p50, r.p99 = percentile(r.lat, 0.50), percentile(r.lat, 0.99)
	return r
}

func (r sbsResult) perSecond() float64 { return float64(r.ops) / r.seconds }

// report puts r into the benchmark's output line: ops/s, p50-ms, p99-ms; ns/op is wall time
// per call (1/throughput), as for b.RunParallel.
func (r sbsResult) report(b *testing.B) {
	b.ReportMetric(r.perSecond(), "ops/s")
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(1e9/r.perSecond(), "ns/op")
}

// drive calls op from callers goroutines for sbsWarmup plus d, and measures the calls that
// started after the warm-up and ended before the deadline. op gets a number unique in the run.
func drive(b *testing.B, name string, callers int, d time.Duration, op func(i int64) error) sbsResult {
	b.Helper()
	return driveWatched(b, name, callers, d, window{}, op)
}

// window is called on the benchmark's goroutine as the measured window opens and closes
// (either may be nil): to read counters over the same span as the calls counted.
type window struct{ open, close func() }

// driveWatched is drive with w called at the window's ends.
func driveWatched(b *testing.B, name string, callers int, d time.Duration, w window, op func(i int64) error) sbsResult {
	b.Helper()
	var seq atomic.Int64
	start := time.Now()
	from, until := start.Add(sbsWarmup), start.Add(sbsWarmup+d)
	lat := make([][]time.Duration, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t0 := time.Now()
				if !t0.Before(until) {
					return
				}
				if err := op(seq.Add(1)); err != nil {
					errs[c] = err
					return
				}
				if t1 := time.Now(); !t0.Before(from) && !t1.After(until) {
					lat[c] = append(lat[c], t1.Sub(t0))
				}
			}
		}()
	}
	for _, edge := range []struct {
		at time.Time
		fn func()
	}{{from, w.open}, {until, w.close}} {
		if edge.fn != nil {
			time.Sleep(time.Until(edge.at))
			edge.fn()
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		b.Fatal("no call finished within the measured window")
	}
	slices.Sort(all)
	return sbsResult{name: name, callers: callers, ops: len(all), seconds: d.Seconds(),
		p50: percentile(all, 0.50), p99: percentile(all, 0.99), lat: all}
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// --- the fixture: a served handler over real HTTP ---------------------------------------------

type sbsFixture struct {
	db      *pgxpool.Pool
	srv     *httptest.Server
	client  *http.Client
	store   string
	crew    string
	reward  string
	members []benchMember
}

// poolFunc opens the pool the handler (and the bare statements) use on a fresh database.
type poolFunc func(b testing.TB, url string) *pgxpool.Pool

// productionPool is the binary's pool: database.Open with the URL as given.
func productionPool(b testing.TB, url string) *pgxpool.Pool {
	db, err := database.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	return db
}

// tunedPool is database.Open's configuration with maxConns and mode in place of its defaults.
func tunedPool(maxConns int32, mode pgx.QueryExecMode) poolFunc {
	return func(b testing.TB, url string) *pgxpool.Pool {
		cfg, err := database.Config(url)
		if err != nil {
			b.Fatal(err)
		}
		cfg.MaxConns = maxConns
		cfg.ConnConfig.DefaultQueryExecMode = mode
		db, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(db.Close)
		return db
	}
}

func newSBSFixture(b testing.TB, open poolFunc, callers int) *sbsFixture {
	b.Helper()
	db := open(b, pgtest.URL(b))
	fx := serveOn(b, db, callers)
	fx.reward = lt.Reward(b, db, lt.RewardSpec{Cost: benchCost}) // unlimited stock: the member is the only shared row
	ids, codes := make([]string, sbsMembers), make([]string, sbsMembers)
	for i := range ids {
		ids[i], codes[i] = uuid.NewString(), loyalty.NewMemberCode()
		fx.members = append(fx.members, benchMember{ids[i], codes[i]})
	}
	lt.Exec(b, db, `INSERT INTO members (id, member_code, display_name)
		SELECT id, code, 'Bench member' FROM unnest($1::uuid[], $2::text[]) AS m(id, code)`, ids, codes)
	coupons := make([]string, sbsMembers)
	for i := range coupons {
		coupons[i] = loyalty.NewCouponCode()
	}
	lt.Exec(b, db, sbsHistorySQL, pgx.NamedArgs{"members": ids, "coupons": coupons, "history": sbsHistory,
		"store": fx.store, "crew": fx.crew, "reward": fx.reward, "amount": benchAmount, "points": benchPoints, "cost": benchCost})
	lt.Exec(b, db, `ANALYZE`)
	b.Cleanup(func() { lt.CheckInvariants(b, db) })
	return fx
}

// serveOn serves the handler on db over HTTP, with a client keeping callers connections
// alive, and creates a store and its crew member.
func serveOn(b testing.TB, db *pgxpool.Pool, callers int) *sbsFixture {
	b.Helper()
	fx := &sbsFixture{db: db}
	env := &hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet}
	svc := loyalty.New(db)
	fx.srv = httptest.NewServer(routes.Mux(routes.Table(env, svc), server.Health(db, nil)))
	b.Cleanup(fx.srv.Close)
	// Hasura keeps its connections to the functions alive; so does this client, one per caller.
	fx.client = &http.Client{Transport: &http.Transport{MaxIdleConns: callers, MaxIdleConnsPerHost: callers, IdleConnTimeout: time.Minute}}
	b.Cleanup(fx.client.CloseIdleConnections)
	fx.store = lt.Store(b, db)
	fx.crew = lt.Staff(b, db, fx.store, loyalty.Crew)
	return fx
}

func (fx *sbsFixture) member(i int64) benchMember { return fx.members[i%int64(len(fx.members))] }

// post sends body to path as Hasura does and fails on any status but 200.
func (fx *sbsFixture) post(path string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, fx.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", hasuratest.UserAgent)
	req.Header.Set(hasura.SecretHeader, hasuratest.Secret)
	res, err := fx.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d: %s", path, res.StatusCode, out)
	}
	return out, nil
}

func (fx *sbsFixture) earnHTTP(receipt string, m benchMember) error {
	body := fmt.Appendf(nil, `{"action":{"name":"earnPoints"},"input":{"input":{"storeId":%q,"receiptNo":%q,"amount":%d,"memberCode":%q}},`+
		`"session_variables":{"x-hasura-role":"staff","x-hasura-user-id":%q},"request_query":"mutation { earnPoints }"}`,
		fx.store, receipt, benchAmount, m.code, fx.crew)
	out, err := fx.post("/earnPoints", body)
	if err == nil && bytes.Contains(out, []byte(`"duplicate":true`)) {
		// A receipt used twice would be counted as an earn the handler did not make.
		return fmt.Errorf("receipt %s earned before: %s", receipt, out)
	}
	return err
}

func (fx *sbsFixture) redeemHTTP(key string, m benchMember) error {
	body := fmt.Appendf(nil, `{"action":{"name":"redeemReward"},"input":{"input":{"rewardId":%q,"idempotencyKey":%q}},`+
		`"session_variables":{"x-hasura-role":"member","x-hasura-user-id":%q},"request_query":"mutation { redeemReward }"}`,
		fx.reward, key, m.id)
	_, err := fx.post("/redeemReward", body)
	return err
}

// The five bare statements of an earn by member code, each its own round trip in one
// transaction (BEGIN and COMMIT make seven): the least an earn can ask of PostgreSQL.
const (
	bareLockMember = `SELECT id, points_balance FROM members WHERE member_code = $1 AND deleted_at IS NULL FOR NO KEY UPDATE`
	bareOrder      = `INSERT INTO orders (store_id, receipt_no, member_id, amount, status, paid_at)
		VALUES ($1, $2, $3, $4, 'paid', $5) RETURNING id`
	bareEntry = `INSERT INTO point_transactions (member_id, kind, points, balance_after, order_id, store_id, idempotency_key, created_at, created_by)
		VALUES ($1, 'earn', $2, $3, $4::uuid, $5, 'earn:' || $4::text, $6, $7) RETURNING id`
	bareLot = `INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
		VALUES ($1, $2, $3, $3, $4, $4::timestamptz + interval '365 days')`
	bareBalance = `UPDATE members SET points_balance = $2 WHERE id = $1`
)

func (fx *sbsFixture) earnBare(ctx context.Context, receipt string, m benchMember) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return pgx.BeginTxFunc(ctx, fx.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var id string
		var balance int64
		if err := tx.QueryRow(ctx, bareLockMember, m.code).Scan(&id, &balance); err != nil {
			return err
		}
		var orderID, entryID string
		if err := tx.QueryRow(ctx, bareOrder, fx.store, receipt, id, benchAmount, now).Scan(&orderID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, bareEntry, id, benchPoints, balance+benchPoints, orderID, fx.store, now, fx.crew).Scan(&entryID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, bareLot, id, entryID, benchPoints, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, bareBalance, id, balance+benchPoints)
		return err
	})
}

// --- pgbench: the ceiling -----------------------------------------------------------------------

// pgbench runs PostgreSQL's pgbench against a fresh database of the same cluster, as the same
// user: initialised at scale 10, then the default TPC-B-like script from clients clients (two
// threads, the cores here) for d, each transaction's latency logged.
func pgbench(b *testing.B, clients int, d time.Duration) sbsResult {
	b.Helper()
	bin, err := pgtest.BinDir()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "PGHOST="+cfg.Host, "PGPORT="+strconv.Itoa(int(cfg.Port)), "PGUSER="+cfg.User,
		"PGDATABASE="+cfg.Database, "PGPASSWORD="+cfg.Password, "PGSSLMODE=disable", "PGAPPNAME=pgbench")
	dir := b.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command(filepath.Join(bin, "pgbench"), args...)
		cmd.Env, cmd.Dir = env, dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("pgbench %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("-i", "-q", "-s", "10")
	secs := max(1, int(d.Round(time.Second).Seconds()))
	out := run("-M", "prepared", "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(secs), "-l", "--log-prefix", "tx")
	var tps float64
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, "tps = "); ok {
			tps, _ = strconv.ParseFloat(strings.Fields(rest)[0], 64)
		}
	}
	if tps == 0 {
		b.Fatalf("no tps in pgbench's output:\n%s", out)
	}
	// Per-transaction log lines: client_id transaction_no latency_us script_no epoch us.
	logs, _ := filepath.Glob(filepath.Join(dir, "tx.*"))
	var lat []time.Duration
	for _, name := range logs {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) >= 3 {
				us, err := strconv.ParseInt(fields[2], 10, 64)
				if err == nil {
					lat = append(lat, time.Duration(us)*time.Microsecond)
				}
			}
		}
		f.Close()
	}
	if len(lat) == 0 {
		b.Fatalf("pgbench logged no transactions:\n%s", out)
	}
	slices.Sort(lat)
	return sbsResult{name: "pgbench TPC-B-like (ceiling)", callers: clients, ops: int(tps * float64(secs)), seconds: float64(secs),
		p50: percentile(lat, 0.50), p99: percentile(lat, 0.99), note: "scale 10, -M prepared"}
}

// --- the benchmarks --------------------------------------------------------------------------------

func BenchmarkSideBySide(b *testing.B) {
	withPodGC(b)
	d := sbsDuration(b)
	ctx := context.Background()
	var results []sbsResult
	// measure runs one sub-benchmark of one or more figures (fn's results), reported in the
	// table in that order; ReportMetric takes the first, the one its name says.
	measure := func(name string, fn func(b *testing.B) []sbsResult) {
		b.Run(name, func(b *testing.B) {
			rs := fn(b)
			rs[0].report(b)
			if b.N == 1 || len(results) == 0 || results[len(results)-len(rs)].name != rs[0].name {
				results = append(results, rs...)
			} else {
				copy(results[len(results)-len(rs):], rs)
			}
		})
	}
	one := func(fn func(b *testing.B) sbsResult) func(b *testing.B) []sbsResult {
		return func(b *testing.B) []sbsResult { return []sbsResult{fn(b)} }
	}
	measure("ceiling-pgbench-c32", one(func(b *testing.B) sbsResult { return pgbench(b, 32, d) }))
	for _, callers := range []int{1, 32} {
		measure(fmt.Sprintf("earn-http-vs-bare-c%d", callers), func(b *testing.B) []sbsResult {
			fxHTTP := newSBSFixture(b, productionPool, callers)
			fxBare := newSBSFixture(b, productionPool, callers)
			// Receipts are unique across rounds: a receipt used again would be an earn the
			// handler answers as a duplicate and the bare statements refuse.
			viaHTTP := func(round int, d time.Duration) sbsResult {
				return drive(b, "earnPoints, HTTP handler", callers, d, func(i int64) error {
					return fxHTTP.earnHTTP(fmt.Sprintf("H-%d-%d", round, i), fxHTTP.member(i))
				})
			}
			viaBare := func(round int, d time.Duration) sbsResult {
				return drive(b, "earn, 5 bare statements", callers, d, func(i int64) error {
					return fxBare.earnBare(ctx, fmt.Sprintf("S-%d-%d", round, i), fxBare.member(i))
				})
			}
			return alternate(d, viaHTTP, viaBare)
		})
	}
	measure("redeem-hot-http-c64", one(func(b *testing.B) sbsResult {
		fx := newSBSFixture(b, productionPool, 64)
		hot := fx.members[0]
		lt.Give(b, loyalty.New(fx.db), hot.id, sbsHotStart)
		r := drive(b, "redeemReward, one hot member, HTTP", 64, d, func(i int64) error {
			return fx.redeemHTTP("K-"+strconv.FormatInt(i, 10), hot)
		})
		r.note = "new idempotency key per call"
		return r
	}))
	printSideBySide(os.Stdout, d, results)
}

// alternate measures a and b for d each, in sbsRounds rounds of d/sbsRounds, a first in
// rounds 1 and 4, b first in rounds 2 and 3 (and so on), and returns each one's rounds as
// one figure: a then b. Each call gets the round's number (from 0) and length.
func alternate(d time.Duration, a, b func(round int, d time.Duration) sbsResult) []sbsResult {
	round := d / sbsRounds
	var ra, rb sbsResult
	add := func(into *sbsResult, r sbsResult) {
		if into.name == "" {
			*into = r
		} else {
			*into = into.plus(r)
		}
	}
	for i := range sbsRounds {
		if aFirst := i%4 == 0 || i%4 == 3; aFirst {
			add(&ra, a(i, round))
			add(&rb, b(i, round))
		} else {
			add(&rb, b(i, round))
			add(&ra, a(i, round))
		}
	}
	return []sbsResult{ra, rb}
}

// printSideBySide writes the table make bench shows: each figure, and its ratio to the
// pgbench ceiling and (for the handler) to the bare statements at the same concurrency.
func printSideBySide(w io.Writer, d time.Duration, results []sbsResult) {
	var ceiling float64
	bare := map[int]float64{}
	for _, r := range results {
		switch {
		case strings.HasPrefix(r.name, "pgbench"):
			ceiling = r.perSecond()
		case strings.HasPrefix(r.name, "earn, 5 bare"):
			bare[r.callers] = r.perSecond()
		}
	}
	fmt.Fprintf(w, "\nside by side, %s each (%s warm-up), one PostgreSQL cluster:\n\n", d, sbsWarmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tcallers\tcalls/s\tp50 ms\tp99 ms\tx ceiling\tx bare\t")
	for _, r := range results {
		ratio, vsBare := "-", "-"
		if ceiling > 0 {
			ratio = fmt.Sprintf("%.2f", r.perSecond()/ceiling)
		}
		if strings.HasPrefix(r.name, "earnPoints") && bare[r.callers] > 0 {
			vsBare = fmt.Sprintf("%.2f", r.perSecond()/bare[r.callers])
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%s\t%s\t\n", r.name, r.callers, r.perSecond(),
			float64(r.p50.Microseconds())/1000, float64(r.p99.Microseconds())/1000, ratio, vsBare)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// BenchmarkEarnPoolSettings: earnPoints through HTTP at 32 callers, for pgx pool sizes and
// statement cache modes (docs/benchmarks.md, pool and server settings).
func BenchmarkEarnPoolSettings(b *testing.B) {
	withPodGC(b)
	d := sbsDuration(b)
	modes := []struct {
		name string
		mode pgx.QueryExecMode
	}{{"cache_statement", pgx.QueryExecModeCacheStatement}, {"cache_describe", pgx.QueryExecModeCacheDescribe}, {"exec", pgx.QueryExecModeExec}}
	var results []sbsResult
	for _, m := range modes {
		for _, conns := range []int32{4, 8, 10, 16, 32} {
			b.Run(fmt.Sprintf("%s-conns%d", m.name, conns), func(b *testing.B) {
				fx := newSBSFixture(b, tunedPool(conns, m.mode), 32)
				r := drive(b, fmt.Sprintf("%s, %d conns", m.name, conns), 32, d, func(i int64) error {
					return fx.earnHTTP("P-"+strconv.FormatInt(i, 10), fx.member(i))
				})
				r.report(b)
				results = append(results, r)
			})
		}
	}
	fmt.Fprintf(os.Stdout, "\nearnPoints through HTTP, 32 callers, %s each:\n\n", d)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "pool\tcalls/s\tp50 ms\tp99 ms\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t\n", r.name, r.perSecond(), float64(r.p50.Microseconds())/1000, float64(r.p99.Microseconds())/1000)
	}
	tw.Flush()
	fmt.Fprintln(os.Stdout)
}

// TestSideBySideEarnPathsMoveTheSameRows keeps the five bare statements honest: an earn
// through the served handler over HTTP and one as bare statements, for the same member, move
// the orders, the ledger, the lots, the balance and the tier points alike.
func TestSideBySideEarnPathsMoveTheSameRows(t *testing.T) {
	fx := newSBSFixture(t, productionPool, 1)
	ctx := context.Background()
	m := fx.members[0]
	type effect struct{ orders, ledger, lots, remaining, balance, tierPoints int64 }
	measure := func() effect {
		return effect{
			orders:     lt.Count(t, fx.db, `SELECT count(*) FROM orders WHERE member_id = $1 AND status = 'paid' AND amount = $2`, m.id, benchAmount),
			ledger:     lt.Count(t, fx.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1 AND kind = 'earn' AND created_by = $2 AND store_id = $3`, m.id, fx.crew, fx.store),
			lots:       lt.Count(t, fx.db, `SELECT count(*) FROM point_lots WHERE member_id = $1 AND expires_at = earned_at + interval '365 days'`, m.id),
			remaining:  lt.Count(t, fx.db, `SELECT coalesce(sum(remaining), 0)::bigint FROM point_lots WHERE member_id = $1`, m.id),
			balance:    lt.Balance(t, fx.db, m.id),
			tierPoints: lt.Count(t, fx.db, `SELECT coalesce(sum(points), 0)::bigint FROM tier_points_by_day WHERE member_id = $1`, m.id),
		}
	}
	want := effect{1, 1, 1, benchPoints, benchPoints, benchPoints}
	before := measure()
	if err := fx.earnHTTP("T-1", m); err != nil {
		t.Fatal(err)
	}
	mid := measure()
	// The benchmark counts only earns made: a receipt earned before is an error to it.
	if err := fx.earnHTTP("T-1", m); err == nil || !strings.Contains(err.Error(), "earned before") {
		t.Fatalf("the same receipt again: %v, want it refused as earned before", err)
	}
	if err := fx.earnBare(ctx, "T-2", m); err != nil {
		t.Fatal(err)
	}
	after := measure()
	diff := func(a, b effect) effect {
		return effect{b.orders - a.orders, b.ledger - a.ledger, b.lots - a.lots, b.remaining - a.remaining, b.balance - a.balance, b.tierPoints - a.tierPoints}
	}
	if byHTTP, bySQL := diff(before, mid), diff(mid, after); byHTTP != want || bySQL != want {
		t.Fatalf("by HTTP %+v, by bare statements %+v; want %+v each", byHTTP, bySQL, want)
	}
	// The ledger line of each carries the balance it left, in order, after the history's.
	past := int64(sbsHistory*benchPoints - benchCost) // the history's balance
	first, second := past+benchPoints, past+2*benchPoints
	if n := lt.Count(t, fx.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1 AND balance_after IN ($2, $3)`,
		m.id, first, second); n != 2 {
		t.Fatalf("%d of 2 ledger lines carry balance_after %d and %d", n, first, second)
	}
	// The fixture's history is a member's own: the tier points count its earns, and the
	// invariants hold (at cleanup).
	if want := int64(sbsHistory+2) * benchPoints; after.tierPoints != want || after.balance != second {
		t.Fatalf("after the history and two earns: balance %d, tier points %d; want %d and %d", after.balance, after.tierPoints, second, want)
	}
}

// The handler and the bare statements alternate, each first in half the rounds, and each
// one's rounds add up to one figure of the whole duration.
func TestAlternateTakesTurnsAndAddsUpEachSidesRounds(t *testing.T) {
	var order []string
	side := func(name string, ms time.Duration) func(round int, d time.Duration) sbsResult {
		return func(round int, d time.Duration) sbsResult {
			order = append(order, fmt.Sprint(name, round))
			return sbsResult{name: name, ops: 2, seconds: d.Seconds(), lat: []time.Duration{ms * time.Millisecond, (ms + 1) * time.Millisecond}}
		}
	}
	got := alternate(4*time.Second, side("a", 1), side("b", 10))
	if want := []string{"a0", "b0", "b1", "a1", "b2", "a2", "a3", "b3"}[:2*sbsRounds]; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	a, b := got[0], got[1]
	if a.name != "a" || b.name != "b" || a.ops != 2*sbsRounds || b.ops != 2*sbsRounds || a.seconds != 4 || b.seconds != 4 {
		t.Fatalf("got %+v and %+v; want each 4 s and %d calls", a, b, 2*sbsRounds)
	}
	if len(a.lat) != 2*sbsRounds || a.p50 != time.Millisecond || a.p99 != 2*time.Millisecond || b.p50 != 10*time.Millisecond {
		t.Fatalf("latencies a %v (p50 %s, p99 %s), b p50 %s", a.lat, a.p50, a.p99, b.p50)
	}
}
