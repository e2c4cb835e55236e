package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestMigrateAppliesOnceSeedsTwiceAndRollsBack(t *testing.T) {
	url := pgtest.EmptyURL(t)

	first := mustRun(t, url, "-seeds")
	if !strings.Contains(first, "applied 1764201600000_init") || !strings.Contains(first, "seeds applied: ") {
		t.Fatalf("first run printed:\n%s", first)
	}
	second := mustRun(t, url, "-seeds")
	if strings.Contains(second, "applied 1") || !strings.Contains(second, "migrations up to date") || !strings.Contains(second, "seeds applied") {
		t.Fatalf("second run printed:\n%s", second)
	}
	if n := count(t, url, `SELECT count(*) FROM public.stores`); n != 1 {
		t.Fatalf("stores after seeding twice = %d, want 1", n)
	}

	if out := mustRun(t, url, "-down"); !strings.Contains(out, "rolled back") {
		t.Fatalf("-down printed:\n%s", out)
	}
	if n := count(t, url, `SELECT count(*) FROM pg_namespace WHERE nspname = 'local_migrate'
		OR (nspname = 'public' AND EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public'))`); n != 0 {
		t.Fatalf("after -down, %d of local_migrate or public tables are left", n)
	}
}

func TestMigrateRefusesBadUse(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		url  string
		want string
	}{
		{"without DATABASE_URL", nil, "", "DATABASE_URL is not set"},
		{"with an unknown flag", []string{"-sideways"}, "postgres://x", "usage"},
		{"with -down and -seeds", []string{"-down", "-seeds"}, "postgres://x", "do not go together"},
		{"with a stray argument", []string{"up"}, "postgres://x", "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, tc.url, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func mustRun(t *testing.T, url string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, url, &out); err != nil {
		t.Fatalf("migrate %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

func count(t *testing.T, url, sql string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
