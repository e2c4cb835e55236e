package ctl

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/liability"
)

// ReportLiabilityOptions are the flags and dependencies of report liability.
type ReportLiabilityOptions struct {
	F    *Factory
	Out  string
	JSON bool
}

func NewCmdReportLiability(f *Factory, runF func(context.Context, *ReportLiabilityOptions) error) *cobra.Command {
	opts := &ReportLiabilityOptions{F: f}
	cmd := &cobra.Command{
		Use:   "liability [--out FILE.png|FILE.svg]",
		Short: "Points outstanding, expiring in 30/60/90 days, and earned/spent/expired per month",
		Long: `Prints the points the programme owes (the sum of open lots), what of it expires in the
next 30, 60 and 90 days, members' debt, and points earned, spent, expired and reversed per
month for the last 12 months (programme time zone). --out also draws them as a chart.
Admin sees the same in Hasura as the views points_liability and points_flow_monthly.`,
		Example: "  loyaltyctl report liability\n  loyaltyctl report liability --out liability.png",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ext := strings.ToLower(filepath.Ext(opts.Out)); opts.Out != "" && ext != ".png" && ext != ".svg" {
				return flagErrorf("--out %s: the chart is a .png or an .svg", opts.Out)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return reportLiabilityRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Out, "out", "", "also write a chart to this .png or .svg file")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	return cmd
}

func reportLiabilityRun(ctx context.Context, opts *ReportLiabilityOptions) error {
	db, err := opts.F.DB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := liability.Read(ctx, db)
	if err != nil {
		return err
	}
	if opts.Out != "" {
		if err := liability.Chart(r, opts.Out); err != nil {
			return &Error{Code: "chart", Message: err.Error()}
		}
	}
	out := opts.F.IO.Out
	if opts.JSON {
		return writeJSON(out, r)
	}
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	s := r.Summary
	if err := table(out, nil, [][]string{
		{"outstanding", n(s.Outstanding)},
		{"expiring within 30 days", n(s.Expiring30)},
		{"expiring within 60 days", n(s.Expiring60)},
		{"expiring within 90 days", n(s.Expiring90)},
		{"members' debt", n(s.Debt)},
	}); err != nil {
		return err
	}
	fprintf(out, "\n")
	rows := make([][]string, len(r.Months))
	for i, m := range r.Months {
		rows[i] = []string{m.Month, n(m.Earned), n(m.Spent), n(m.Expired), n(m.Reversed)}
	}
	if err := table(out, []string{"MONTH", "EARNED", "SPENT", "EXPIRED", "REVERSED"}, rows); err != nil {
		return err
	}
	if opts.Out != "" {
		fprintf(opts.F.IO.ErrOut, "chart written to %s\n", opts.Out)
	}
	return nil
}
