package ctl

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hotfix"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/invariants"
)

// CheckInvariantsOptions are the flags and dependencies of check invariants.
type CheckInvariantsOptions struct {
	F    *Factory
	JSON bool
}

func NewCmdCheckInvariants(f *Factory, runF func(context.Context, *CheckInvariantsOptions) error) *cobra.Command {
	opts := &CheckInvariantsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "invariants",
		Short: "Check the programme's invariants over the whole database",
		Long: `Runs every invariant check (balance = ledger sum, open lots = max(balance, 0), stock,
one earn per order, negative balances only after refunds, ...) and prints every violation.
Exit 1 when there is any.`,
		Example: "  loyaltyctl check invariants\n  loyaltyctl check invariants --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return checkInvariantsRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the violations as JSON")
	return cmd
}

func checkInvariantsRun(ctx context.Context, opts *CheckInvariantsOptions) error {
	db, err := opts.F.DB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	vs, err := invariants.Check(ctx, db)
	if err != nil {
		return err
	}
	out := opts.F.IO.Out
	if opts.JSON {
		if vs == nil {
			vs = []invariants.Violation{}
		}
		answer := map[string]any{"ok": len(vs) == 0, "rules": len(invariants.Rules), "violations": vs}
		if len(vs) > 0 {
			answer["error"] = jsonError{Code: hotfix.CodeInvariantBroken, Message: fmt.Sprintf("%d violations", len(vs))}
		}
		if err := writeJSON(out, answer); err != nil {
			return err
		}
	} else if len(vs) == 0 {
		if _, err := fprintf(out, "all %d invariant checks hold\n", len(invariants.Rules)); err != nil {
			return err
		}
	} else {
		rows := make([][]string, len(vs))
		for i, v := range vs {
			rows[i] = []string{v.Rule, v.Key, v.Got, v.Want}
		}
		if err := table(out, []string{"RULE", "WHERE", "GOT", "WANT"}, rows); err != nil {
			return err
		}
		fprintf(opts.F.IO.ErrOut, "%d violations\n", len(vs))
	}
	if len(vs) > 0 {
		return errSilent
	}
	return nil
}
