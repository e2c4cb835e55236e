package ctl

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hotfix"
)

// HotfixApplyOptions are the flags and dependencies of hotfix apply.
type HotfixApplyOptions struct {
	F      *Factory
	File   string
	Reason string
	DryRun bool
	Again  bool
	JSON   bool
}

func NewCmdHotfixApply(f *Factory, runF func(context.Context, *HotfixApplyOptions) error) *cobra.Command {
	opts := &HotfixApplyOptions{F: f}
	cmd := &cobra.Command{
		Use:   "apply FILE.sql --reason TEXT",
		Short: "Apply a reviewed SQL file from data/hotfix/ in one audited transaction",
		Long: `Runs FILE.sql in one transaction, checks every invariant inside it, and commits only if
they all hold. --dry-run runs and checks, prints the rows each statement changed, and always
rolls back; it records nothing, even when it fails. Every other run that commits or fails is
recorded in hotfix_runs (file, sha256, reason, OS user and PGUSER, times, outcome, rows per
statement). A file applied before is refused unless --again. The file must not contain
BEGIN, COMMIT, ROLLBACK or SAVEPOINT.`,
		Example: `  loyaltyctl hotfix apply data/hotfix/2026-06-01-restore-lost-lot.sql --reason "INC-42" --dry-run
  loyaltyctl hotfix apply data/hotfix/2026-06-01-restore-lost-lot.sql --reason "INC-42"`,
		Args: exactArgs(1, "one FILE.sql"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if strings.TrimSpace(opts.Reason) == "" {
				return flagErrorf("--reason is required: say why (an incident or ticket)")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return hotfixApplyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Reason, "reason", "", "why this hotfix is applied (required)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "run and check, then roll back")
	cmd.Flags().BoolVar(&opts.Again, "again", false, "apply a file that was applied before")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

func hotfixApplyRun(ctx context.Context, opts *HotfixApplyOptions) error {
	sql, err := os.ReadFile(opts.File)
	if err != nil {
		return &Error{Code: "file", Message: err.Error()}
	}
	db, err := opts.F.DB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := hotfix.Apply(ctx, db, hotfix.Run{
		Path: opts.File, SQL: sql, Reason: opts.Reason, OSUser: opts.F.OSUser(), DBUser: opts.F.Getenv("PGUSER"),
		DryRun: opts.DryRun, Again: opts.Again,
	})
	var herr *hotfix.Error
	ran := err == nil || errors.As(err, &herr) && res.Outcome == hotfix.Failed
	if !ran {
		return err
	}
	out := opts.F.IO.Out
	if opts.JSON {
		if werr := writeJSON(out, res); werr != nil {
			return werr
		}
		if err != nil {
			return reported{err} // the result holds the error
		}
	} else {
		rows := make([][]string, len(res.Statements))
		for i, s := range res.Statements {
			rows[i] = []string{strconv.Itoa(s.N), s.Tag, strconv.FormatInt(s.Rows, 10)}
		}
		if werr := table(out, []string{"STATEMENT", "TAG", "ROWS"}, rows); werr != nil {
			return werr
		}
		for _, v := range res.Violations {
			fprintf(out, "violation: %s\n", v)
		}
		switch res.Outcome {
		case hotfix.DryRun:
			fprintf(out, "dry run of %s (sha256 %s): invariants hold; rolled back\n", res.File, res.SHA256)
		case hotfix.Applied:
			fprintf(out, "applied %s (sha256 %s) as hotfix run %d\n", res.File, res.SHA256, res.RunID)
		case hotfix.Failed:
			if opts.DryRun {
				fprintf(out, "dry run of %s failed; rolled back, nothing recorded\n", res.File)
			} else {
				fprintf(out, "rolled back %s; recorded as failed hotfix run %d\n", res.File, res.RunID)
			}
		}
	}
	return err
}
