// Package ctl is loyaltyctl, the operators' tool: one cobra command per task, each an
// Options struct, a NewCmdX that only parses and validates flags, and an xRun that does the
// work, so tests run the work directly with in-memory streams and a real database.
package ctl

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
)

// NewCmdRoot is loyaltyctl with every subcommand.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "loyaltyctl",
		Short: "Operators' tool for the Kaiser Kitchen loyalty programme",
		Long: `loyaltyctl does the operators' tasks that have no admin UI, against DATABASE_URL:
images to S3, CSV imports of stores and rewards, audited hotfixes, invariant checks,
replay of failed trigger deliveries, and the points liability report.

Exit codes: 0 success, 1 failure, 2 bad usage. --json prints machine-readable output.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noUnknownCommand,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetIn(f.IO.In)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &FlagError{Err: err} })
	root.AddCommand(
		group("images", "Reward and store images in S3", NewCmdImagesUpload(f, nil)),
		group("import", "Import stores or rewards from CSV", NewCmdImportStores(f, nil), NewCmdImportRewards(f, nil)),
		group("hotfix", "Audited SQL hotfixes from data/hotfix/", NewCmdHotfixApply(f, nil)),
		group("check", "Checks over the whole database", NewCmdCheckInvariants(f, nil)),
		group("failures", "Failed trigger deliveries", NewCmdFailuresList(f, nil), NewCmdFailuresReplay(f, nil)),
		group("report", "Reports for the business", NewCmdReportLiability(f, nil)),
	)
	return root
}

// group is a noun holding its verbs; called alone it shows its help, with an unknown verb
// it is bad usage.
func group(name, short string, verbs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  noUnknownCommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(verbs...)
	return c
}

func noUnknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return flagErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

// Main runs loyaltyctl with args and returns the exit code. With the OTEL_* variables
// set, the run is traced (one span, the subcommand's) and its spans are exported before
// Main returns, whatever the outcome.
func Main(ctx context.Context, f *Factory, args []string) int {
	tp, flush, err := f.tracing(ctx)
	if err != nil {
		if slices.Contains(args, "--json") {
			_ = writeJSON(f.IO.Out, map[string]any{"error": jsonErrorOf(err)})
		}
		fmt.Fprintf(f.IO.ErrOut, "error [%s]: %v\n", codeOf(err), err)
		return ExitError
	}
	defer flush()
	root := NewCmdRoot(f)
	root.SetArgs(args)
	ctx, span := startRun(ctx, tp, root, args)
	cmd, err := root.ExecuteContextC(ctx)
	code := exit(f, cmd, err)
	endRun(span, cmd, code, err)
	return code
}

// exit prints why a run failed and returns its exit code. With --json, every failure is
// also one JSON document on stdout, {"error": {"code", "message"[, "problems"]}}, unless the
// command already wrote its JSON answer (violations, replays, a hotfix's result).
func exit(f *Factory, cmd *cobra.Command, err error) int {
	if err == nil {
		return ExitOK
	}
	asJSON := false
	if cmd != nil {
		if fl := cmd.Flags().Lookup("json"); fl != nil {
			asJSON = fl.Value.String() == "true"
		}
	}
	var flagErr *FlagError
	if errors.As(err, &flagErr) {
		if asJSON {
			_ = writeJSON(f.IO.Out, map[string]any{"error": jsonError{Code: "usage", Message: err.Error()}})
		}
		fmt.Fprintf(f.IO.ErrOut, "error: %v\n\n%s", err, cmd.UsageString())
		return ExitUsage
	}
	var done reported
	if asJSON && !errors.Is(err, errSilent) && !errors.As(err, &done) {
		_ = writeJSON(f.IO.Out, map[string]any{"error": jsonErrorOf(err)})
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintf(f.IO.ErrOut, "error [%s]: %v\n", codeOf(err), err)
	}
	return ExitError
}

// exactArgs is cobra.ExactArgs as a FlagError.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return flagErrorf("want %s, got %d arguments", what, len(args))
		}
		return nil
	}
}
