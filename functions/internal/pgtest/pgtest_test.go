package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// A cluster in PGTEST_DATA_DIR is made once and started again on the next run, with what the
// run before left in it; stopping it leaves the folder.
func TestAClusterInTheDataDirKeepsItsDataAcrossStarts(t *testing.T) {
	dir, err := os.MkdirTemp("", "pgtest-kept") // under /tmp, which the postgres user can reach
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Setenv("PGTEST_DATA_DIR", dir)
	ctx := context.Background()
	run := func(exec, sql string) (n int) {
		t.Helper()
		c, err := startCluster()
		if err != nil {
			t.Fatal(err)
		}
		defer c.stop()
		if !c.kept {
			t.Fatal("a cluster in PGTEST_DATA_DIR says it is not kept")
		}
		conn, err := pgx.Connect(ctx, c.url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if exec != "" {
			if _, err := conn.Exec(ctx, exec); err != nil {
				t.Fatal(err)
			}
		}
		if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := run(`CREATE TABLE kept AS SELECT 42 AS n`, `SELECT n FROM kept`); n != 42 {
		t.Fatalf("the first start reads %d, want 42", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Fatalf("the stopped cluster left no data behind: %v", err)
	}
	if n := run("", `SELECT n FROM kept`); n != 42 {
		t.Fatalf("the second start reads %d, want the 42 the first left", n)
	}
}

// Kept copies the template once and hands the same database back on later calls, with what
// was written to it; it outlives the test.
func TestAKeptDatabaseIsCreatedOnceAndComesBack(t *testing.T) {
	defer func(was bool) { server.lasting = was }(server.lasting)
	server.lasting = true // as with PGTEST_DATA_DIR or TEST_DATABASE_URL
	name := server.prefix + "_kept"
	t.Cleanup(func() { _ = dropDatabase(context.Background(), name) })
	ctx := context.Background()
	u, created := Kept(t, name)
	if !created {
		t.Fatal("the first call did not create the database")
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	// Migrated and seeded like every test database.
	if _, err := conn.Exec(ctx, `INSERT INTO stores (code, name, timezone) VALUES ('KEPT', 'Kept store', 'Asia/Tokyo')`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	again, created := Kept(t, name)
	if created || again != u {
		t.Fatalf("the second call: created %v, %s; want the same database, %s", created, again, u)
	}
	conn, err = pgx.Connect(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM stores WHERE code = 'KEPT'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the kept database has %d of the store written to it (%v), want 1", n, err)
	}
}

// A throwaway server dies with the run: keeping a database in it would only lose it.
func TestKeptRefusesAServerThatStopsWithTheRun(t *testing.T) {
	defer func(was bool) { server.lasting = was }(server.lasting)
	server.lasting = false
	got := fatalOf(func(tb testing.TB) { Kept(tb, server.prefix+"_never") })
	if !strings.Contains(got, "PGTEST_DATA_DIR") {
		t.Fatalf("Kept on a throwaway server: %q, want a failure naming PGTEST_DATA_DIR", got)
	}
}

// fatalTB records the first Fatal and stops the function that called it.
type fatalTB struct {
	testing.TB
	msg string
}

type stopped struct{}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(stopped{})
}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	panic(stopped{})
}

// fatalOf runs fn and returns what it failed with ("" when it did not).
func fatalOf(fn func(testing.TB)) (msg string) {
	tb := &fatalTB{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopped); !ok {
				panic(r)
			}
			msg = tb.msg
		}
	}()
	fn(tb)
	return ""
}
