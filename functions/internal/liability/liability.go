// Package liability reads the points the programme owes (the points_liability and
// points_flow_monthly views) and draws them as a chart for a report.
package liability

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Summary is one row of points_liability.
type Summary struct {
	Outstanding int64     `json:"outstanding"`
	Expiring30  int64     `json:"expiring_30d"`
	Expiring60  int64     `json:"expiring_60d"`
	Expiring90  int64     `json:"expiring_90d"`
	Debt        int64     `json:"debt"`
	AsOf        time.Time `json:"as_of"`
}

// Month is one row of points_flow_monthly.
type Month struct {
	Month    string `json:"month"` // YYYY-MM in the programme's time zone
	Earned   int64  `json:"earned"`
	Spent    int64  `json:"spent"`
	Expired  int64  `json:"expired"`
	Reversed int64  `json:"reversed"`
}

// Report is the liability report.
type Report struct {
	Summary Summary `json:"summary"`
	Months  []Month `json:"months"` // oldest first, 12 of them
}

// Querier is a pool or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Read runs the two queries of the report, each on its index, in one snapshot.
func Read(ctx context.Context, db interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}) (Report, error) {
	var r Report
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return r, err
	}
	defer tx.Rollback(ctx)
	s := &r.Summary
	if err := tx.QueryRow(ctx, `SELECT outstanding, expiring_30d, expiring_60d, expiring_90d, debt, as_of FROM points_liability`).
		Scan(&s.Outstanding, &s.Expiring30, &s.Expiring60, &s.Expiring90, &s.Debt, &s.AsOf); err != nil {
		return r, err
	}
	rows, err := tx.Query(ctx, `SELECT month, earned, spent, expired, reversed FROM points_flow_monthly ORDER BY month`)
	if err != nil {
		return r, err
	}
	r.Months, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Month, error) {
		var m Month
		err := row.Scan(&m.Month, &m.Earned, &m.Spent, &m.Expired, &m.Reversed)
		return m, err
	})
	return r, err
}
