package routes

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
)

// Rows as Hasura sends them (Postgres row_to_json): only the columns the handlers read.
// Handlers read the current row again under a lock; the payload only names it.

type memberRow struct {
	ID string `json:"id"`
}

type orderRow struct {
	ID string `json:"id"`
}

type pointTransactionRow struct {
	ID string `json:"id"`
}

// eventTrigger serves an event trigger on public.<table> for the operations in ops; the
// affected row's id is taken from the new row (the old one for DELETE).
func eventTrigger[Row any](env *hasura.Envelope, name, table string, rowID func(*Row) string, ops []string,
	op func(context.Context, loyalty.Delivery, string) (loyalty.Outcome, error)) Route {
	h := hasura.EventTrigger(env, func(ctx context.Context, req *hasura.EventRequest[Row]) (loyalty.Outcome, error) {
		switch {
		case req.Trigger.Name != name:
			return loyalty.Outcome{}, misrouted(req.Trigger.Name, name)
		case req.Table.Schema != "public" || req.Table.Name != table:
			return loyalty.Outcome{}, misrouted(req.Table.Schema+"."+req.Table.Name, "public."+table)
		case !slices.Contains(ops, req.Event.Op):
			return loyalty.Outcome{}, &hasura.Error{Status: http.StatusBadRequest, Code: string(loyalty.CodeInvalidInput),
				Message: name + " does not handle " + req.Event.Op}
		}
		row := req.Event.Data.New
		if req.Event.Op == hasura.OpDelete {
			row = req.Event.Data.Old
		}
		id := rowID(row)
		if id == "" {
			return loyalty.Outcome{}, &hasura.Error{Status: http.StatusBadRequest, Code: string(loyalty.CodeInvalidInput), Message: "event.data.new.id is required"}
		}
		out, err := op(ctx, loyalty.Delivery{Trigger: name, ID: req.ID}, id)
		return out, toHasura(err)
	})
	return Route{Name: name, Kind: EventTrigger, Handler: h}
}

// cronPayload is the payload configured in cron_triggers.yaml; every field is optional.
type cronPayload struct {
	BatchSize int `json:"batch_size"`
	// BudgetSeconds may be a fraction: a tiny budget makes every delivery do one batch.
	BudgetSeconds float64 `json:"budget_seconds"`
}

func cronTrigger(env *hasura.Envelope, name string, op func(context.Context, loyalty.CronRun) (loyalty.Outcome, error)) Route {
	h := hasura.CronTrigger(env, func(ctx context.Context, req *hasura.CronRequest[*cronPayload]) (loyalty.Outcome, error) {
		// A one-off scheduled event has no name; a cron event must be ours.
		if req.Name != "" && req.Name != name {
			return loyalty.Outcome{}, misrouted(req.Name, name)
		}
		run := loyalty.CronRun{Delivery: loyalty.Delivery{Trigger: name, ID: req.ID}, ScheduledTime: req.ScheduledTime.Time}
		if p := req.Payload; p != nil {
			run.BatchSize = p.BatchSize
			run.Budget = time.Duration(p.BudgetSeconds * float64(time.Second))
		}
		out, err := op(ctx, run)
		return out, toHasura(err)
	})
	return Route{Name: name, Kind: CronTrigger, Handler: h}
}

var (
	insertOps = []string{hasura.OpInsert, hasura.OpManual}
	updateOps = []string{hasura.OpUpdate, hasura.OpManual}
	orderOps  = []string{hasura.OpInsert, hasura.OpUpdate, hasura.OpManual}
)

func memberID(r *memberRow) string                { return r.ID }
func orderID(r *orderRow) string                  { return r.ID }
func transactionID(r *pointTransactionRow) string { return r.ID }
