package loyalty

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

// A cron's batches select ranges of time and plan for their values; an action's transaction
// keeps the connection's one plan per statement (database.Config).
func TestCronBatchesPlanForTheirValuesAndActionsDoNot(t *testing.T) {
	ctx := context.Background()
	s := New(pgtest.Pool(t))
	mode := func(tx pgx.Tx) (string, error) {
		var m string
		err := tx.QueryRow(ctx, `SELECT current_setting('plan_cache_mode')`).Scan(&m)
		return m, err
	}
	var inBatch, inAction string
	run := CronRun{Delivery: Delivery{Trigger: "housekeeping", ID: "plans-test"}, ScheduledTime: time.Now()}
	if _, err := s.runBatches(ctx, run, func(tx pgx.Tx, _ *cronCursor, _ *Outcome) (more bool, err error) {
		inBatch, err = mode(tx)
		return false, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.inTx(ctx, func(tx pgx.Tx) (err error) { inAction, err = mode(tx); return err }); err != nil {
		t.Fatal(err)
	}
	if inBatch != "auto" || inAction != "force_generic_plan" {
		t.Fatalf("plan_cache_mode in a cron batch %q, in an action %q; want auto and force_generic_plan", inBatch, inAction)
	}
}
