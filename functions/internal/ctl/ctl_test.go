package ctl_test

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/ctl"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// world is a fresh migrated database and the environment loyaltyctl reads.
type world struct {
	t    *testing.T
	db   *pgxpool.Pool
	vars map[string]string
	tp   trace.TracerProvider // the runs' tracer provider; nil: as the OTEL_* variables say
	tty  bool                 // the runs' stdout is a terminal
}

func newWorld(t *testing.T) *world {
	t.Helper()
	url := pgtest.URL(t)
	db, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return &world{t: t, db: db, vars: map[string]string{"DATABASE_URL": url}}
}

type answer struct {
	code        int
	out, errOut string
}

// run runs loyaltyctl with args on in-memory streams, as an operator named tester.
func (w *world) run(args ...string) answer {
	w.t.Helper()
	io, _, out, errOut := ctl.Test()
	io.TTY = w.tty
	f := ctl.NewFactory(io)
	f.Getenv = func(k string) string { return w.vars[k] }
	f.OSUser = func() string { return "tester" }
	f.TracerProvider = w.tp
	code := ctl.Main(context.Background(), f, args)
	return answer{code, out.String(), errOut.String()}
}

func (w *world) want(a answer, code int, outHas ...string) {
	w.t.Helper()
	if a.code != code {
		w.t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", a.code, code, a.out, a.errOut)
	}
	for _, s := range outHas {
		if !strings.Contains(a.out+a.errOut, s) {
			w.t.Errorf("output does not mention %q\nstdout:\n%s\nstderr:\n%s", s, a.out, a.errOut)
		}
	}
}

// checksum is a digest of every row of the tables, to prove a run changed nothing.
func (w *world) checksum(tables ...string) string {
	w.t.Helper()
	var sums []string
	for _, tbl := range tables {
		var s string
		if err := w.db.QueryRow(context.Background(),
			`SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM `+tbl+` t`).Scan(&s); err != nil {
			w.t.Fatal(err)
		}
		sums = append(sums, tbl+"="+s)
	}
	return strings.Join(sums, " ")
}

var business = []string{"members", "point_transactions", "point_lots", "stores", "rewards", "coupons", "hotfix_runs", "trigger_failures"}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUsageErrorsExit2AndHelpExits0(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"help", []string{"--help"}, 0},
		{"a noun alone shows its help", []string{"hotfix"}, 0},
		{"every verb has help", []string{"report", "liability", "--help"}, 0},
		{"an unknown command", []string{"frobnicate"}, 2},
		{"an unknown verb", []string{"hotfix", "revert"}, 2},
		{"an unknown flag", []string{"check", "invariants", "--fast"}, 2},
		{"a hotfix without --reason", []string{"hotfix", "apply", "x.sql"}, 2},
		{"a hotfix without a file", []string{"hotfix", "apply", "--reason", "r"}, 2},
		{"an image upload without --kind", []string{"images", "upload", "dir"}, 2},
		{"a replay of no id", []string{"failures", "replay"}, 2},
		{"a replay of a word", []string{"failures", "replay", "seven"}, 2},
		{"a chart of another format", []string{"report", "liability", "--out", "x.pdf"}, 2},
		{"an import of two files", []string{"import", "stores", "a.csv", "b.csv"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := w.run(tt.args...)
			if a.code != tt.code {
				t.Fatalf("exit %d, want %d: %s%s", a.code, tt.code, a.out, a.errOut)
			}
			if tt.code == 2 && !strings.Contains(a.errOut, "Usage:") {
				t.Errorf("bad usage without the usage text: %s", a.errOut)
			}
		})
	}
}

func TestAMissingDatabaseURLIsAConfigError(t *testing.T) {
	w := newWorld(t)
	delete(w.vars, "DATABASE_URL")
	w.want(w.run("check", "invariants"), 1, "[config]", "DATABASE_URL")
}

func TestCheckInvariantsPrintsEveryViolationAndExits1(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	w.want(w.run("check", "invariants"), 0, "invariant checks hold")
	lt.Exec(t, w.db, `UPDATE members SET points_balance = 25 WHERE id = $1`, id)
	a := w.run("check", "invariants")
	w.want(a, 1, "points_balance is the sum of the member's ledger", id, "the open lots hold max(balance, 0)", "2 violations")
	j := decode[struct {
		OK         bool
		Violations []struct{ Rule, Key, Got, Want string }
	}](t, w.run("check", "invariants", "--json").out)
	if j.OK || len(j.Violations) != 2 || j.Violations[0].Key != id || j.Violations[0].Got != "25" || j.Violations[0].Want != "0" {
		t.Errorf("json %+v", j)
	}
}

// With --json every failure is one JSON document on stdout, {"error": {"code", "message"}},
// whatever the subcommand and wherever it failed; stderr still says it in words.
func TestWithJSONEveryErrorIsAJSONErrorObject(t *testing.T) {
	w := newWorld(t)
	dir := filepath.Join(t.TempDir(), "hotfix")
	applied := write(t, filepath.Join(dir, "once.sql"), "UPDATE stores SET active = true;\n")
	w.want(w.run("hotfix", "apply", applied, "--reason", "first"), 0)
	tests := []struct {
		name   string
		env    map[string]string // set ("" removes)
		args   []string
		code   string
		status int
	}{
		{"a hotfix outside data/hotfix", nil, []string{"hotfix", "apply", write(t, filepath.Join(t.TempDir(), "x.sql"), "SELECT 1;"), "--reason", "r"}, "hotfix_not_reviewed", 1},
		{"a hotfix with its own COMMIT", nil, []string{"hotfix", "apply", write(t, filepath.Join(dir, "c.sql"), "COMMIT;"), "--reason", "r"}, "hotfix_transaction_control", 1},
		{"a hotfix applied before", nil, []string{"hotfix", "apply", applied, "--reason", "again"}, "hotfix_already_applied", 1},
		{"a hotfix whose statement fails (the result carries the error)", nil, []string{"hotfix", "apply", write(t, filepath.Join(dir, "bad.sql"), "UPDATE nowhere SET x = 1;"), "--reason", "r"}, "hotfix_statement_failed", 1},
		{"a hotfix file that is not there", nil, []string{"hotfix", "apply", filepath.Join(dir, "none.sql"), "--reason", "r"}, "file", 1},
		{"no DATABASE_URL", map[string]string{"DATABASE_URL": ""}, []string{"check", "invariants"}, "config", 1},
		{"no DATABASE_URL for a report", map[string]string{"DATABASE_URL": ""}, []string{"report", "liability"}, "config", 1},
		{"no ACTION_SECRET for a replay", nil, []string{"failures", "replay", "1"}, "config", 1},
		{"no S3_BUCKET", nil, []string{"images", "upload", t.TempDir(), "--kind", "stores"}, "config", 1},
		{"an import file that is not there", nil, []string{"import", "stores", filepath.Join(dir, "none.csv")}, "file", 1},
		{"bad usage", nil, []string{"report", "liability", "--out", "x.pdf"}, "usage", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := maps.Clone(w.vars)
			defer func() { w.vars = saved }()
			for k, v := range tt.env {
				if v == "" {
					delete(w.vars, k)
				} else {
					w.vars[k] = v
				}
			}
			a := w.run(append(tt.args, "--json")...)
			w.want(a, tt.status)
			dec := json.NewDecoder(strings.NewReader(a.out))
			var j struct {
				Error *struct{ Code, Message string }
			}
			if err := dec.Decode(&j); err != nil || j.Error == nil || j.Error.Code != tt.code || j.Error.Message == "" {
				t.Fatalf("stdout is not the JSON error %q (%v):\n%s", tt.code, err, a.out)
			}
			if dec.More() {
				t.Errorf("more than one JSON document on stdout:\n%s", a.out)
			}
			if !strings.Contains(a.errOut, j.Error.Message) && tt.status == 1 {
				t.Errorf("stderr does not say it: %s", a.errOut)
			}
		})
	}
}
