package ctl_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

type hotfixRun struct {
	FileName, SHA256, Reason, OSUser, DBUser, Outcome string
	Statements                                        []struct {
		Statement int
		Tag       string
		Rows      int64
	}
	Error *string
}

func (w *world) hotfixRuns() []hotfixRun {
	w.t.Helper()
	rows, err := w.db.Query(context.Background(), `SELECT file_name, sha256, reason, os_user, db_user, outcome, statements, error FROM hotfix_runs ORDER BY id`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []hotfixRun
	for rows.Next() {
		var r hotfixRun
		var st []byte
		if err := rows.Scan(&r.FileName, &r.SHA256, &r.Reason, &r.OSUser, &r.DBUser, &r.Outcome, &st, &r.Error); err != nil {
			w.t.Fatal(err)
		}
		if err := json.Unmarshal(st, &r.Statements); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

const renameStores = `-- Two stores were opened under the wrong names.
UPDATE stores SET name = 'Shibuya' WHERE code LIKE 'S-%';
INSERT INTO stores (code, name, timezone) VALUES ('SHJ', 'Shinjuku', 'Asia/Tokyo');
`

func TestAHotfixIsAppliedOnceRecordedAndRefusedAgainWithoutAgain(t *testing.T) {
	w := newWorld(t)
	lt.Store(t, w.db)
	lt.Store(t, w.db)
	file := write(t, filepath.Join(t.TempDir(), "hotfix", "2026-06-01-rename-stores.sql"), renameStores)
	w.vars["PGUSER"] = "ops_alice"
	w.want(w.run("hotfix", "apply", file, "--reason", "INC-42 store names"), 0, "UPDATE 2", "INSERT 0 1", "applied 2026-06-01-rename-stores.sql")
	if n := lt.Count(t, w.db, `SELECT count(*) FROM stores WHERE name IN ('Shibuya', 'Shinjuku')`); n != 3 {
		t.Fatalf("%d stores changed, want 3", n)
	}
	runs := w.hotfixRuns()
	if len(runs) != 1 {
		t.Fatalf("%d runs recorded", len(runs))
	}
	r := runs[0]
	if r.FileName != "2026-06-01-rename-stores.sql" || len(r.SHA256) != 64 || r.Reason != "INC-42 store names" || r.OSUser != "tester" ||
		r.DBUser != "ops_alice" || r.Outcome != "applied" || r.Error != nil || len(r.Statements) != 2 ||
		r.Statements[0].Tag != "UPDATE 2" || r.Statements[0].Rows != 2 || r.Statements[1].Rows != 1 {
		t.Errorf("recorded %+v", r)
	}
	before := w.checksum(business...)
	w.want(w.run("hotfix", "apply", file, "--reason", "again?"), 1, "[hotfix_already_applied]", "--again")
	if w.checksum(business...) != before {
		t.Fatal("a refused hotfix changed the database")
	}
	// The same content under another name is the same hotfix.
	copyFile := write(t, filepath.Join(filepath.Dir(file), "copy.sql"), renameStores)
	w.want(w.run("hotfix", "apply", copyFile, "--reason", "copy"), 1, "[hotfix_already_applied]")
	w.want(w.run("hotfix", "apply", file, "--reason", "INC-43 once more", "--again", "--json"), 1, "duplicate key")
	if runs := w.hotfixRuns(); len(runs) != 2 || runs[1].Outcome != "failed" {
		t.Fatalf("runs %+v; want the second recorded as failed (SHJ exists)", runs)
	}
}

func TestADryRunPrintsTheRowsAndChangesNothing(t *testing.T) {
	w := newWorld(t)
	lt.Store(t, w.db)
	file := write(t, filepath.Join(t.TempDir(), "hotfix", "fix.sql"), renameStores)
	before := w.checksum(business...)
	a := w.run("hotfix", "apply", file, "--reason", "try", "--dry-run", "--json")
	w.want(a, 0)
	res := decode[struct {
		Outcome    string
		Statements []struct{ Rows int64 }
	}](t, a.out)
	if res.Outcome != "dry_run" || len(res.Statements) != 2 || res.Statements[0].Rows != 1 || res.Statements[1].Rows != 1 {
		t.Errorf("dry run %+v", res)
	}
	if after := w.checksum(business...); after != before {
		t.Fatalf("a dry run changed the database:\n%s\n%s", before, after)
	}
	// The dry run did not count as applied.
	w.want(w.run("hotfix", "apply", file, "--reason", "now"), 0, "applied")
}

func TestAHotfixThatBreaksAnInvariantIsRolledBackAndRecordedAsFailed(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	file := write(t, filepath.Join(t.TempDir(), "hotfix", "gift.sql"),
		"-- Gives points without a ledger entry: must be refused.\nUPDATE members SET points_balance = points_balance + 100;\n")
	before := w.checksum("members", "point_transactions", "point_lots")
	w.want(w.run("hotfix", "apply", file, "--reason", "goodwill"), 1, "[invariant_broken]", "violation: points_balance is the sum", id, "recorded as failed")
	if w.checksum("members", "point_transactions", "point_lots") != before {
		t.Fatal("the breaking hotfix was not rolled back")
	}
	runs := w.hotfixRuns()
	if len(runs) != 1 || runs[0].Outcome != "failed" || runs[0].Error == nil || len(runs[0].Statements) != 1 || runs[0].Statements[0].Rows != 1 {
		t.Fatalf("runs %+v", runs)
	}
	// A failed run is not an applied one: the fixed file may run.
	w.want(w.run("check", "invariants"), 0)
}

func TestHotfixRefusals(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hotfix")
	tests := []struct {
		name, sql, code string
		recorded        bool
	}{
		{"a file that commits itself", "UPDATE stores SET active = false;\nCOMMIT;\n", "statement 2 (line 2) is COMMIT", false},
		{"a file that opens its own transaction", "begin; UPDATE stores SET active = false; end;", "[hotfix_transaction_control]", false},
		{"a savepoint", "SAVEPOINT a; UPDATE stores SET active = false;", "[hotfix_transaction_control]", false},
		{"only comments", "-- nothing yet\n/* later */\n", "[hotfix_empty]", false},
		{"a statement that fails", "UPDATE stores SET active = false;\nUPDATE nowhere SET x = 1;\n", "[hotfix_statement_failed]", true},
		{"a failing statement is named by the line it starts on", "-- two good, one bad\nUPDATE stores\n  SET active = false;\n\n/* the bad one */ UPDATE stores SET active = true; UPDATE\n  nowhere SET x = 1;\n",
			"statement 3 (line 5)", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			lt.Store(t, w.db)
			file := write(t, filepath.Join(dir, "f"+string(rune('a'+i))+".sql"), tt.sql)
			before := w.checksum("stores")
			w.want(w.run("hotfix", "apply", file, "--reason", "test"), 1, tt.code)
			if w.checksum("stores") != before {
				t.Fatal("a refused hotfix changed the database")
			}
			if got := len(w.hotfixRuns()) == 1; got != tt.recorded {
				t.Errorf("recorded: %v, want %v", got, tt.recorded)
			}
		})
	}
	t.Run("a file outside data/hotfix", func(t *testing.T) {
		w := newWorld(t)
		w.want(w.run("hotfix", "apply", write(t, filepath.Join(t.TempDir(), "x.sql"), "SELECT 1;"), "--reason", "r"), 1, "[hotfix_not_reviewed]")
	})
	t.Run("BEGIN inside a function body or a string is not transaction control", func(t *testing.T) {
		w := newWorld(t)
		sql := "DO $$ BEGIN UPDATE stores SET name = 'x; COMMIT'; END $$;\nUPDATE stores SET name = E'it\\'s; begin';\n"
		w.want(w.run("hotfix", "apply", write(t, filepath.Join(dir, "do.sql"), sql), "--reason", "r"), 0, "applied")
	})
}

// A dry run writes nothing, not even the record of a failure: a failing statement or a
// broken invariant exits 1 and leaves hotfix_runs as it was.
func TestADryRunThatFailsRecordsNothing(t *testing.T) {
	w := newWorld(t)
	lt.Member(t, w.db)
	dir := filepath.Join(t.TempDir(), "hotfix")
	tests := []struct{ name, sql, code string }{
		{"a statement that fails", "UPDATE stores SET active = false;\nUPDATE nowhere SET x = 1;\n", "[hotfix_statement_failed]"},
		{"an invariant broken", "UPDATE members SET points_balance = points_balance + 100;\n", "[invariant_broken]"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := write(t, filepath.Join(dir, "dry"+string(rune('a'+i))+".sql"), tt.sql)
			before := w.checksum(business...)
			runs := lt.Count(t, w.db, `SELECT count(*) FROM hotfix_runs`)
			a := w.run("hotfix", "apply", file, "--reason", "try", "--dry-run")
			w.want(a, 1, tt.code)
			if n := lt.Count(t, w.db, `SELECT count(*) FROM hotfix_runs`); n != runs {
				t.Fatalf("a failing dry run wrote %d hotfix_runs rows", n-runs)
			}
			if w.checksum(business...) != before {
				t.Fatal("a failing dry run changed the database")
			}
			if strings.Contains(a.out, "recorded as failed") {
				t.Errorf("a dry run says it recorded a run:\n%s", a.out)
			}
			j := w.run("hotfix", "apply", file, "--reason", "try", "--dry-run", "--json")
			w.want(j, 1)
			res := decode[struct {
				Outcome string
				RunID   int64 `json:"run_id"`
			}](t, j.out)
			if res.Outcome != "failed" || res.RunID != 0 {
				t.Errorf("json %+v, want failed without a run id", res)
			}
		})
	}
}
