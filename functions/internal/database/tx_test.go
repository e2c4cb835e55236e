package database_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

// countedPool is a pool of one connection on a fresh database with a table items (unique
// name), counting its round trips.
func countedPool(t *testing.T) (*pgxpool.Pool, *pgtest.RoundTrips) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	counter := &pgtest.RoundTrips{}
	cfg.ConnConfig.Tracer = counter
	cfg.MaxConns = 1 // every attempt on the same connection: a broken one would show
	db, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Exec(context.Background(), `CREATE TABLE items (name text PRIMARY KEY, attempt int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	counter.Trips.Store(0)
	return db, counter
}

func itemNames(t *testing.T, db *pgxpool.Pool) []string {
	t.Helper()
	rows, _ := db.Query(context.Background(), `SELECT name || ':' || attempt FROM items ORDER BY name`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// insertItem is a last write that checks itself with unless_raced: it fails when the name
// was taken.
const insertItem = `WITH i AS (INSERT INTO items VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1)
	SELECT (SELECT count(*) FROM i) WHERE unless_raced((SELECT count(*) FROM i) = 1, 'the item')`

func TestAReadBatchAndAWriteWithItsCommitAreTwoRoundTrips(t *testing.T) {
	ctx := context.Background()
	db, trips := countedPool(t)
	var before, wrote int
	err := database.InTx(ctx, db, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT count(*) FROM items`).QueryRow(func(r pgx.Row) error { return r.Scan(&before) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		w := &pgx.Batch{}
		w.Queue(insertItem, "a", 1).QueryRow(func(r pgx.Row) error { return r.Scan(&wrote) })
		return database.CommitWith(ctx, tx, w)
	})
	if err != nil || before != 0 || wrote != 1 {
		t.Fatalf("err %v, read %d, wrote %d", err, before, wrote)
	}
	if n := trips.Trips.Load(); n != 2 {
		t.Fatalf("%d round trips, want 2 (BEGIN with the reads, COMMIT with the write)", n)
	}
	if got := itemNames(t, db); len(got) != 1 || got[0] != "a:1" {
		t.Fatalf("items %v, want [a:1]", got)
	}
}

func TestTheFirstBatchRunsInTheTransactionAndRollsBackWithIt(t *testing.T) {
	ctx := context.Background()
	db, _ := countedPool(t)
	refusal := errors.New("refused")
	err := database.InTx(ctx, db, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO items VALUES ('x', 1)`)
		b.Queue(`INSERT INTO items VALUES ('y', 1)`)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return refusal
	})
	if !errors.Is(err, refusal) {
		t.Fatalf("err %v, want the refusal", err)
	}
	if got := itemNames(t, db); len(got) != 0 {
		t.Fatalf("items %v after a rolled-back transaction, want none", got)
	}
}

func TestAWriteThatFailsWithItsCommitCommitsNothing(t *testing.T) {
	ctx := context.Background()
	db, _ := countedPool(t)
	calls := 0
	err := database.InTx(ctx, db, func(tx pgx.Tx) error {
		calls++
		if _, err := tx.Exec(ctx, `INSERT INTO items VALUES ('before', 1)`); err != nil {
			return err
		}
		w := &pgx.Batch{}
		w.Queue(`INSERT INTO items VALUES ('after', 1)`)
		w.Queue(`INSERT INTO items VALUES ('after', 2)`) // a unique violation
		return database.CommitWith(ctx, tx, w)
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" || calls != 1 {
		t.Fatalf("err %v after %d calls, want the unique violation after one", err, calls)
	}
	if got := itemNames(t, db); len(got) != 0 {
		t.Fatalf("items %v, want none: the COMMIT must not have run", got)
	}
	// The connection (the pool's only one) is usable again.
	if err := database.InTx(ctx, db, func(tx pgx.Tx) error {
		return database.CommitWith(ctx, tx, batchOf(insertItem, "next", 1))
	}); err != nil {
		t.Fatal(err)
	}
	if got := itemNames(t, db); len(got) != 1 || got[0] != "next:1" {
		t.Fatalf("items %v, want [next:1]", got)
	}
}

func batchOf(sql string, args ...any) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return b
}

func TestAWriteThatLostARaceRunsAgainAndOnlyTheLastAttemptStays(t *testing.T) {
	ctx := context.Background()
	db, _ := countedPool(t)
	if _, err := db.Exec(ctx, `INSERT INTO items VALUES ('taken', 0)`); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := database.InTx(ctx, db, func(tx pgx.Tx) error {
		calls++
		name := "taken" // as if a concurrent transaction had taken the name after the read
		if calls == 3 {
			name = "free"
		}
		w := batchOf(`INSERT INTO items VALUES ('side effect', $1)`, calls)
		w.Queue(insertItem, name, calls)
		return database.CommitWith(ctx, tx, w)
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want success on the third", err, calls)
	}
	if got := itemNames(t, db); len(got) != 3 || got[0] != "free:3" || got[1] != "side effect:3" || got[2] != "taken:0" {
		t.Fatalf("items %v, want the third attempt's only", got)
	}
}

func TestNothingRunsAgainOnceCommitWithHasCommitted(t *testing.T) {
	ctx := context.Background()
	db, _ := countedPool(t)
	calls := 0
	err := database.InTx(ctx, db, func(tx pgx.Tx) error {
		calls++
		if err := database.CommitWith(ctx, tx, batchOf(insertItem, "once", calls)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1`); !errors.Is(err, pgx.ErrTxClosed) {
			t.Errorf("a statement after the commit: %v, want pgx.ErrTxClosed", err)
		}
		return database.ErrRaced // a bug: a race found after the commit cannot be undone
	})
	if err == nil || calls != 1 {
		t.Fatalf("err %v after %d calls, want the error after one call", err, calls)
	}
	if got := itemNames(t, db); len(got) != 1 || got[0] != "once:1" {
		t.Fatalf("items %v, want [once:1]", got)
	}
}

func TestACallbackErrorAfterTheCommitLeavesTheWriteCommitted(t *testing.T) {
	ctx := context.Background()
	db, _ := countedPool(t)
	bad := errors.New("the answer did not scan")
	calls := 0
	err := database.InTx(ctx, db, func(tx pgx.Tx) error {
		calls++
		w := &pgx.Batch{}
		w.Queue(insertItem, "kept", 1).QueryRow(func(pgx.Row) error { return bad })
		return database.CommitWith(ctx, tx, w)
	})
	if !errors.Is(err, bad) || calls != 1 {
		t.Fatalf("err %v after %d calls, want the callback's after one", err, calls)
	}
	if got := itemNames(t, db); len(got) != 1 || got[0] != "kept:1" {
		t.Fatalf("items %v, want [kept:1]: the server had committed", got)
	}
}

func TestATransactionThatSendsNothingMakesNoRoundTrip(t *testing.T) {
	db, trips := countedPool(t)
	if err := database.InTx(context.Background(), db, func(pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := trips.Trips.Load(); n != 0 {
		t.Fatalf("%d round trips, want none", n)
	}
}

// Open's connections reuse one plan per prepared statement; PlanByValues gives the rest of
// one transaction PostgreSQL's default back, in the round trip of the BEGIN. A generic plan
// shows its parameter ($1) in EXPLAIN, a plan made for the values shows the value.
func TestOpenPlansOnceAndPlanByValuesPlansForTheValuesInItsTransaction(t *testing.T) {
	ctx := context.Background()
	cfg, err := database.Config(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	trips := &pgtest.RoundTrips{}
	cfg.ConnConfig.Tracer = trips
	cfg.MaxConns = 1
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Exec(ctx, `CREATE TABLE items (name text PRIMARY KEY, attempt int NOT NULL);
		PREPARE by_name(text) AS SELECT attempt FROM items WHERE name > $1`); err != nil {
		t.Fatal(err)
	}
	plan := func(tx pgx.Tx) string {
		rows, _ := tx.Query(ctx, `EXPLAIN (COSTS OFF) EXECUTE by_name('m')`, pgx.QueryExecModeSimpleProtocol)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	var once, byValues, after string
	trips.Trips.Store(0)
	if err := database.InTx(ctx, db, func(tx pgx.Tx) error {
		if err := database.PlanByValues(ctx, tx); err != nil {
			return err
		}
		byValues = plan(tx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := trips.Trips.Load(); n != 3 {
		t.Errorf("PlanByValues, a statement and COMMIT: %d round trips, want 3", n)
	}
	for _, into := range []*string{&once, &after} {
		if err := database.InTx(ctx, db, func(tx pgx.Tx) error { *into = plan(tx); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(once, "$1") || !strings.Contains(after, "$1") {
		t.Errorf("on Open's connections, want the generic plan (with $1), got:\n%s\nand after PlanByValues's transaction:\n%s", once, after)
	}
	if !strings.Contains(byValues, "'m'::text") || strings.Contains(byValues, "$1") {
		t.Errorf("after PlanByValues, want a plan for the value 'm', got:\n%s", byValues)
	}
}

// CommitWith on a transaction InTx did not begin sends the batch and leaves the COMMIT to the
// transaction's owner: nothing is visible to others until the owner commits.
func TestCommitWithOnAnotherTransactionLeavesItsCommitToItsOwner(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	if _, err := db.Exec(ctx, `CREATE TABLE items (name text PRIMARY KEY, attempt int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var wrote int
	w := &pgx.Batch{}
	w.Queue(insertItem, "a", 1).QueryRow(func(r pgx.Row) error { return r.Scan(&wrote) })
	if err := database.CommitWith(ctx, tx, w); err != nil || wrote != 1 {
		t.Fatalf("CommitWith: wrote %d, %v", wrote, err)
	}
	if got := itemNames(t, db); len(got) != 0 {
		t.Fatalf("before the owner's COMMIT others see %v, want nothing", got)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("the owner's COMMIT: %v", err)
	}
	if got := itemNames(t, db); len(got) != 1 || got[0] != "a:1" {
		t.Fatalf("after the owner's COMMIT: %v, want [a:1]", got)
	}
}
