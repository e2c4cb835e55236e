// Package hotfix applies a reviewed SQL file to the database in one transaction, checks the
// programme's invariants inside it before commit, and records every run in hotfix_runs.
package hotfix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/invariants"
)

// Error codes of refusals and failures.
const (
	CodeNotReviewed        = "hotfix_not_reviewed"
	CodeEmpty              = "hotfix_empty"
	CodeTransactionControl = "hotfix_transaction_control"
	CodeAlreadyApplied     = "hotfix_already_applied"
	CodeStatementFailed    = "hotfix_statement_failed"
	CodeInvariantBroken    = "invariant_broken"
)

// Error is a hotfix refused or rolled back, with a stable code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string     { return e.Message }
func (e *Error) ErrorCode() string { return e.Code }

// Run is one application of a file.
type Run struct {
	Path   string // the file; it must sit in a directory named hotfix (data/hotfix/)
	SQL    []byte
	Reason string
	OSUser string
	DBUser string // PGUSER; empty: the session's current_user
	DryRun bool   // run, check and always roll back
	Again  bool   // apply a file that was applied before
}

// Statement is what one statement of the file did.
type Statement struct {
	N    int    `json:"statement"`
	Tag  string `json:"tag"`
	Rows int64  `json:"rows"`
}

// Result is what a run did.
type Result struct {
	File       string                 `json:"file"`
	SHA256     string                 `json:"sha256"`
	Outcome    string                 `json:"outcome"` // applied, dry_run, failed
	RunID      int64                  `json:"run_id,omitempty"`
	Statements []Statement            `json:"statements"`
	Violations []invariants.Violation `json:"violations,omitempty"`
	Error      *ErrorInfo             `json:"error,omitempty"`
}

// ErrorInfo is why a run failed, as a Result carries it.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Outcomes.
const (
	Applied = "applied"
	DryRun  = "dry_run"
	Failed  = "failed"
)

// transactionControl are statements that would end or split the hotfix's transaction.
var transactionControl = []string{"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "PREPARE"}

// Apply runs r. A run refused before its file ran returns an *Error and records nothing; a
// run whose statements or invariant checks failed is rolled back, recorded as failed (unless
// it is a dry run, which records nothing), and returns its Result with an *Error.
func Apply(ctx context.Context, db *pgxpool.Pool, r Run) (Result, error) {
	sum := sha256.Sum256(r.SQL)
	res := Result{File: filepath.Base(r.Path), SHA256: hex.EncodeToString(sum[:]), Statements: []Statement{}}
	if err := refuse(r); err != nil {
		return res, err
	}
	if !r.Again {
		if err := notAppliedBefore(ctx, db, res); err != nil {
			return res, err
		}
	}
	started := time.Now()
	var failure *Error
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// A hotfix waits at most this long for a row a member is using, then fails instead of
		// holding the counter up.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
			return err
		}
		results, err := tx.Conn().PgConn().Exec(ctx, string(r.SQL)).ReadAll()
		for i, rr := range results {
			if rr.Err == nil {
				res.Statements = append(res.Statements, Statement{N: i + 1, Tag: rr.CommandTag.String(), Rows: rr.CommandTag.RowsAffected()})
			}
		}
		if err != nil {
			n := len(res.Statements) + 1
			where := fmt.Sprintf("statement %d", n)
			if st := statements(string(r.SQL)); n <= len(st) {
				where += fmt.Sprintf(" (line %d)", st[n-1].Line)
			}
			failure = &Error{Code: CodeStatementFailed, Message: fmt.Sprintf("%s: %s: %v", res.File, where, err)}
			return failure
		}
		if st := tx.Conn().PgConn().TxStatus(); st != 'T' {
			return fmt.Errorf("%s left its transaction (status %q): check the database by hand", res.File, st)
		}
		res.Violations, err = invariants.Check(ctx, tx)
		if err != nil {
			return err
		}
		if len(res.Violations) > 0 {
			failure = &Error{Code: CodeInvariantBroken, Message: fmt.Sprintf("%s breaks %d invariant checks; rolled back", res.File, len(res.Violations))}
			return failure
		}
		if r.DryRun {
			res.Outcome = DryRun
			return errRollback
		}
		res.Outcome = Applied
		res.RunID, err = record(ctx, tx, r, res, started, nil)
		return err
	})
	switch {
	case errors.Is(err, errRollback):
		return res, nil
	case failure != nil:
		res.Outcome, res.Error = Failed, &ErrorInfo{Code: failure.Code, Message: failure.Message}
		if r.DryRun {
			// A dry run writes nothing, not even the record of its failure.
			return res, failure
		}
		// The hotfix's transaction is gone; the record of its failure is written on its own.
		id, rerr := record(ctx, db, r, res, started, failure)
		if rerr != nil {
			return res, fmt.Errorf("%w (and recording the failed run: %v)", failure, rerr)
		}
		res.RunID = id
		return res, failure
	case err != nil:
		res.Outcome, res.Error = Failed, &ErrorInfo{Code: "error", Message: err.Error()}
		return res, err
	}
	return res, nil
}

var errRollback = errors.New("dry run: rolled back")

func refuse(r Run) error {
	if filepath.Base(filepath.Dir(r.Path)) != "hotfix" {
		return &Error{Code: CodeNotReviewed, Message: fmt.Sprintf("%s: a hotfix is a reviewed file in data/hotfix/", r.Path)}
	}
	sts := statements(string(r.SQL))
	if len(sts) == 0 {
		return &Error{Code: CodeEmpty, Message: fmt.Sprintf("%s: no statement to run", r.Path)}
	}
	for i, s := range sts {
		if slices.Contains(transactionControl, s.Word) {
			return &Error{Code: CodeTransactionControl, Message: fmt.Sprintf(
				"%s: statement %d (line %d) is %s: the tool runs the file in its own transaction; leave transaction control out", r.Path, i+1, s.Line, s.Word)}
		}
	}
	return nil
}

func notAppliedBefore(ctx context.Context, db *pgxpool.Pool, res Result) error {
	var id int64
	var name, who string
	var at time.Time
	err := db.QueryRow(ctx, `
		SELECT id, file_name, os_user, finished_at FROM hotfix_runs
		WHERE outcome = 'applied' AND (sha256 = $1 OR file_name = $2) ORDER BY id LIMIT 1`, res.SHA256, res.File).
		Scan(&id, &name, &who, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return &Error{Code: CodeAlreadyApplied, Message: fmt.Sprintf(
		"%s was applied before (hotfix run %d, %s by %s at %s); use --again to apply it once more",
		res.File, id, name, who, at.UTC().Format(time.RFC3339))}
}

type execer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func record(ctx context.Context, q execer, r Run, res Result, started time.Time, failure *Error) (int64, error) {
	statements, err := json.Marshal(res.Statements)
	if err != nil {
		return 0, err
	}
	var msg *string
	if failure != nil {
		msg = &failure.Message
	}
	var id int64
	err = q.QueryRow(ctx, `
		INSERT INTO hotfix_runs (file_name, sha256, reason, os_user, db_user, started_at, finished_at, outcome, statements, error)
		VALUES ($1, $2, $3, $4, coalesce(nullif($5, ''), current_user), $6, $7, $8, $9, $10)
		RETURNING id`,
		res.File, res.SHA256, strings.TrimSpace(r.Reason), r.OSUser, r.DBUser, started, time.Now(), res.Outcome, statements, msg).Scan(&id)
	return id, err
}
