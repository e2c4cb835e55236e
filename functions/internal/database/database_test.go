package database_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestInTxRetriesADeadlockAndBothTransactionsCommit(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counters VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	// Two transactions lock the rows in opposite orders, each pausing after its first lock so
	// that they deadlock; Postgres kills one, and InTx runs it again.
	var attempts atomic.Int32
	var both sync.WaitGroup
	both.Add(2)
	run := func(first, second int) error {
		return database.InTx(ctx, db, func(tx pgx.Tx) error {
			attempts.Add(1)
			if _, err := tx.Exec(ctx, `UPDATE counters SET n = n + 1 WHERE id = $1`, first); err != nil {
				return err
			}
			if attempts.Load() <= 2 {
				both.Done()
				both.Wait()
			}
			_, err := tx.Exec(ctx, `UPDATE counters SET n = n + 1 WHERE id = $1`, second)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run(1, 2) }()
	go func() { errs <- run(2, 1) }()
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("a transaction failed: %v", err)
		}
	}
	if attempts.Load() != 3 {
		t.Fatalf("%d attempts, want 3 (one retry after the deadlock)", attempts.Load())
	}
	var sum int
	_ = db.QueryRow(ctx, `SELECT sum(n) FROM counters`).Scan(&sum)
	if sum != 4 {
		t.Fatalf("sum %d, want 4: each transaction's two updates once", sum)
	}
}

func TestInTxRollsBackOnAnErrorAndReturnsIt(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, _ = db.Exec(ctx, `CREATE TABLE t (n int)`)
	refusal := errors.New("refused")
	calls := 0
	err = database.InTx(ctx, db, func(tx pgx.Tx) error {
		calls++
		_, _ = tx.Exec(ctx, `INSERT INTO t VALUES (1)`)
		return refusal
	})
	if !errors.Is(err, refusal) || calls != 1 {
		t.Fatalf("err %v after %d calls; want the refusal after one", err, calls)
	}
	var n int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n)
	if n != 0 {
		t.Fatal("the failed transaction's insert was committed")
	}
}

func TestInTxRunsAgainAfterErrRacedAndKeepsOnlyTheLastAttempt(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, _ = db.Exec(ctx, `CREATE TABLE raced (attempt int)`)
	calls := 0
	err = database.InTx(ctx, db, func(tx pgx.Tx) error {
		calls++
		if _, err := tx.Exec(ctx, `INSERT INTO raced VALUES ($1)`, calls); err != nil {
			return err
		}
		if calls < 3 {
			return fmt.Errorf("receipt taken: %w", database.ErrRaced)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls; want success on the third", err, calls)
	}
	var attempts []int
	rows, _ := db.Query(ctx, `SELECT attempt FROM raced`)
	attempts, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil || len(attempts) != 1 || attempts[0] != 3 {
		t.Fatalf("rows %v (%v); want only the third attempt's", attempts, err)
	}
}

func TestAnUnreachableDatabaseIsATransientFault(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := database.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = database.InTx(ctx, db, func(pgx.Tx) error { return nil })
	var tr *database.Transient
	if !errors.As(err, &tr) || !tr.Temporary() {
		t.Fatalf("err = %v; want a *Transient", err)
	}
}

func TestIsTransient(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"a serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"a deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"a connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"an administrator shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"a lock not available", &pgconn.PgError{Code: "55P03"}, true},
		{"a deadline", context.DeadlineExceeded, true},
		{"a unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"a syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"a plain error", errors.New("bug"), false},
	}
	for _, c := range cases {
		if got := database.IsTransient(c.err); got != c.want {
			t.Errorf("%s: IsTransient = %v, want %v", c.name, got, c.want)
		}
	}
	if name := database.ConstraintName(&pgconn.PgError{Code: "23505", ConstraintName: "orders_store_receipt_key"}); name != "orders_store_receipt_key" {
		t.Errorf("ConstraintName = %q", name)
	}
}

func TestOpenSizesThePoolByDefaultOrAsDATABASE_URLSays(t *testing.T) {
	for _, c := range []struct {
		query string
		want  int32
	}{
		{"", database.DefaultMaxConns},
		{"&pool_max_conns=16", 16},
		{"&pool_max_conns=64", 64},
		{"&pool_max_conns=4", database.MinMaxConns},
	} {
		// Open does not connect, so no server is needed at this address.
		db, err := database.Open(context.Background(), "postgres://u@127.0.0.1:1/db?sslmode=disable"+c.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := db.Config().MaxConns; got != c.want {
			t.Errorf("DATABASE_URL ...%s: MaxConns %d, want %d", c.query, got, c.want)
		}
		db.Close()
	}
}

// One pod serves containerConcurrency requests at once; the default pool gives each its
// connection (docs/benchmarks.md, pool and server settings).
func TestDefaultPoolMatchesTheKnativeContainerConcurrency(t *testing.T) {
	manifest, err := os.ReadFile("../../../deploy/base/functions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*containerConcurrency:\s*(\d+)`).FindSubmatch(manifest)
	if m == nil {
		t.Fatal("deploy/base/functions.yaml sets no containerConcurrency")
	}
	if n, _ := strconv.Atoi(string(m[1])); n != database.DefaultMaxConns {
		t.Fatalf("containerConcurrency %d, database.DefaultMaxConns %d: keep them equal", n, database.DefaultMaxConns)
	}
}

// Lists of ids go to PostgreSQL as []string: on Open's connections pgx encodes them for a
// uuid[] parameter in the format it picks first (on others it fails a binary attempt, and
// builds that error by reflection, before falling back to text), and they arrive as uuids.
func TestUUIDListsAsStringsEncodeInTheirPreferredFormat(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t) // database.Config's
	conn, err := db.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	ids := []string{"0193a1b2-0000-7000-8000-000000000001", "0193a1b2-0000-7000-8000-000000000002"}
	m := conn.Conn().TypeMap()
	if _, err := m.Encode(pgtype.UUIDArrayOID, m.FormatCodeForOID(pgtype.UUIDArrayOID), ids, nil); err != nil {
		t.Fatalf("[]string for uuid[] in its preferred format: %v", err)
	}
	var got []string
	var n int
	if err := conn.QueryRow(ctx, `SELECT $1::uuid[]::text[], cardinality($1::uuid[])`, ids).Scan(&got, &n); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ids) || n != 2 {
		t.Fatalf("sent %v, PostgreSQL has %v (%d)", ids, got, n)
	}
}
