package routes_test

// BenchmarkEarnCPU (make bench-cpu) measures what one earn costs in CPU, not in time: the
// Go process (the handler, pgx and the benchmark's own HTTP client) and PostgreSQL (the
// backends of the test's cluster), per call, through HTTP and as the five bare statements,
// at 32 callers, in alternating rounds. With both cores saturated, throughput is one over
// that sum, and the sums hold better than throughputs on a machine shared with other work.
// With SIDEBYSIDE_STATEMENTS=1 (and pg_stat_statements loaded, see docs/development.md) it
// also prints each round's statements by execution time per earn.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

// clockTicks is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTicks = 100

// postgresCPU is the CPU time used so far by the PostgreSQL server of db (its postmaster,
// the parent of db's backends, and the postmaster's live children), read from /proc: the
// server must run on this machine, as pgtest's cluster does.
func postgresCPU(t testing.TB, db *pgxpool.Pool) time.Duration {
	t.Helper()
	var backend int
	if err := db.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parent := map[string]string{}
	ticks := map[string]int64{}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // not a process, or gone
		}
		// pid (comm) state ppid ... utime stime: fields 4, 14 and 15; comm may hold spaces.
		s := string(raw)
		end := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[end+2:])
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		parent[e.Name()], ticks[e.Name()] = f[1], utime+stime
	}
	postmaster, ok := parent[strconv.Itoa(backend)]
	if !ok {
		t.Fatalf("backend %d is not a process of this machine: PostgreSQL must run here", backend)
	}
	sum := ticks[postmaster]
	for pid, pp := range parent {
		if pp == postmaster {
			sum += ticks[pid]
		}
	}
	return time.Duration(sum) * time.Second / clockTicks
}

// goCPU is the CPU time this process used so far.
func goCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPerCall is what one call cost in CPU, on average over a round.
type cpuPerCall struct {
	perSecond  float64
	goCPU, pg  time.Duration
	statements []string
}

func (c cpuPerCall) sum() time.Duration { return c.goCPU + c.pg }

// measureCPU drives op (drive) and divides the CPU used while the calls were counted by
// their number.
func measureCPU(b *testing.B, fx *sbsFixture, callers int, d time.Duration, op func(i int64) error) cpuPerCall {
	b.Helper()
	ctx := context.Background()
	statements := os.Getenv("SIDEBYSIDE_STATEMENTS") != ""
	if statements {
		if _, err := fx.db.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
			b.Fatalf("SIDEBYSIDE_STATEMENTS needs pg_stat_statements: %v", err)
		}
	}
	var g0, p0, g1, p1 time.Duration
	r := driveWatched(b, "cpu", callers, d, window{
		open: func() {
			if statements {
				if _, err := fx.db.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
					b.Fatal(err)
				}
			}
			g0, p0 = goCPU(b), postgresCPU(b, fx.db)
		},
		close: func() { g1, p1 = goCPU(b), postgresCPU(b, fx.db) },
	}, op)
	n := int64(r.ops)
	c := cpuPerCall{perSecond: r.perSecond(), goCPU: (g1 - g0) / time.Duration(n), pg: (p1 - p0) / time.Duration(n)}
	if statements {
		rows, err := fx.db.Query(ctx, `
			SELECT calls, total_exec_time, left(regexp_replace(query, '\s+', ' ', 'g'), 90) FROM pg_stat_statements
			WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'
			ORDER BY total_exec_time DESC LIMIT 16`)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var calls int64
			var ms float64
			var q string
			if err := rows.Scan(&calls, &ms, &q); err != nil {
				b.Fatal(err)
			}
			c.statements = append(c.statements, fmt.Sprintf("%8d calls %8.1f µs exec per call of the round  %s", calls, ms*1000/float64(n), q))
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

func BenchmarkEarnCPU(b *testing.B) {
	withPodGC(b)
	d := sbsDuration(b)
	ctx := context.Background()
	const callers, rounds = 32, 3
	var http, bare []cpuPerCall
	for round := range rounds {
		fx := newSBSFixture(b, productionPool, callers)
		http = append(http, measureCPU(b, fx, callers, d, func(i int64) error {
			return fx.earnHTTP(fmt.Sprintf("C%d-H-%d", round, i), fx.member(i))
		}))
		fx = newSBSFixture(b, productionPool, callers)
		bare = append(bare, measureCPU(b, fx, callers, d, func(i int64) error {
			return fx.earnBare(ctx, fmt.Sprintf("C%d-S-%d", round, i), fx.member(i))
		}))
	}
	w := os.Stdout
	fmt.Fprintf(w, "\nCPU per earn at %d callers, %s a round (%s warm-up), µs:\n\n", callers, d, sbsWarmup)
	fmt.Fprintf(w, "%-6s  %-26s  %-26s  %s\n", "round", "HTTP handler: Go + PG", "5 bare statements: Go + PG", "bare / handler")
	for i := range rounds {
		h, s := http[i], bare[i]
		fmt.Fprintf(w, "%-6d  %5.0f + %4.0f = %4.0f (%4.0f/s)  %5.0f + %4.0f = %4.0f (%4.0f/s)  %.2f\n", i+1,
			us(h.goCPU), us(h.pg), us(h.sum()), h.perSecond, us(s.goCPU), us(s.pg), us(s.sum()), s.perSecond,
			float64(s.sum())/float64(h.sum()))
	}
	for i := range rounds {
		for _, r := range []struct {
			name string
			c    cpuPerCall
		}{{"HTTP handler", http[i]}, {"5 bare statements", bare[i]}} {
			if len(r.c.statements) > 0 {
				fmt.Fprintf(w, "\nround %d, %s:\n%s\n", i+1, r.name, strings.Join(r.c.statements, "\n"))
			}
		}
	}
	fmt.Fprintln(w)
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// postgresCPU reads the server's CPU from /proc: it must grow while PostgreSQL works.
func TestPostgresCPUCountsTheServersWork(t *testing.T) {
	db := productionPool(t, pgtest.URL(t))
	before := postgresCPU(t, db)
	var n int64
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM generate_series(1, 3000000) i WHERE i % 7 = 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if after := postgresCPU(t, db); after <= before {
		t.Fatalf("PostgreSQL's CPU %s before a query of %d rows and %s after: not counted", before, n, after)
	}
}
