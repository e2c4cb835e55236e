package ctl

import (
	"context"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/csvimport"
)

// ImportOptions are the flags and dependencies of import stores and import rewards.
type ImportOptions struct {
	F      *Factory
	Table  csvimport.Table
	File   string
	DryRun bool
	JSON   bool
}

func NewCmdImportStores(f *Factory, runF func(context.Context, *ImportOptions) error) *cobra.Command {
	return newCmdImport(f, csvimport.Stores, "stores", `Upserts stores from a CSV file whose header names the columns (any order): code (the key),
id, name, timezone, active. A store is matched by code; a column left out keeps its default
or current value.`, runF)
}

func NewCmdImportRewards(f *Factory, runF func(context.Context, *ImportOptions) error) *cobra.Command {
	return newCmdImport(f, csvimport.Rewards, "rewards", `Upserts rewards from a CSV file whose header names the columns (any order): id (the key;
empty for a new reward), name, description, image_url, points_cost, stock, per_member_limit,
min_tier_rank, coupon_valid_days, active_from, active_to (RFC 3339), active, store_id. A column
left out keeps its default or current value; an empty cell of a nullable column is NULL.`, runF)
}

func newCmdImport(f *Factory, t csvimport.Table, name, long string, runF func(context.Context, *ImportOptions) error) *cobra.Command {
	opts := &ImportOptions{F: f, Table: t}
	cmd := &cobra.Command{
		Use:   name + " FILE.csv",
		Short: "Upsert " + name + " from a CSV file, all rows in one transaction",
		Long: long + `

Every row is validated first; any problem is listed with its line and field and nothing is
written. --dry-run prints each insert and update field by field and writes nothing.`,
		Example: "  loyaltyctl import " + name + " data/" + name + ".csv --dry-run\n  loyaltyctl import " + name + " data/" + name + ".csv",
		Args:    exactArgs(1, "one FILE.csv"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return importRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would change and write nothing")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the changes (or the problems) as JSON")
	return cmd
}

func importRun(ctx context.Context, opts *ImportOptions) error {
	in, err := os.Open(opts.File)
	if err != nil {
		return &Error{Code: "file", Message: err.Error()}
	}
	defer in.Close()
	file, err := csvimport.Parse(opts.Table, opts.File, in)
	if err != nil {
		return err
	}
	db, err := opts.F.DB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	results, err := csvimport.Apply(ctx, db, opts.Table, file, opts.DryRun)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(opts.F.IO.Out, map[string]any{"dry_run": opts.DryRun, "rows": results})
	}
	var out [][]string
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Action]++
		if r.Action == "unchanged" {
			continue
		}
		for i, c := range r.Changes {
			line, action, key := "", "", ""
			if i == 0 {
				line, action, key = strconv.Itoa(r.Line), r.Action, r.Key
			}
			out = append(out, []string{line, action, key, c.Field, show(c.From), "->", show(c.To)})
		}
	}
	if err := table(opts.F.IO.Out, []string{"LINE", "ACTION", opts.Table.Key, "FIELD", "FROM", "", "TO"}, out); err != nil {
		return err
	}
	verb := "written"
	if opts.DryRun {
		verb = "dry run: nothing written"
	}
	fprintf(opts.F.IO.Out, "%s: %d inserted, %d updated, %d unchanged (%s)\n", opts.Table.Name, counts["insert"], counts["update"], counts["unchanged"], verb)
	return nil
}

func show(v *string) string {
	if v == nil {
		return "NULL"
	}
	return strconv.Quote(*v)
}
