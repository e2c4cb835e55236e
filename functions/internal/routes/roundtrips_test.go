package routes_test

// How many round trips to PostgreSQL each action makes, counted by a pgx tracer: a budget, so
// a change that adds one fails here. A round trip is a statement sent alone (BEGIN and COMMIT
// included) or a batch of statements sent together (pgx.Batch: one write, one wait). The
// statements inside batches are counted too, and logged, but only round trips are budgeted:
// they are what a caller waits for, and what the member's row lock is held across.

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/server"
)

// roundTripCounter counts the round trips and statements a pool sends.
type roundTripCounter struct{ roundTrips, statements atomic.Int64 }

func (c *roundTripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.roundTrips.Add(1)
	c.statements.Add(1)
	return ctx
}
func (c *roundTripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *roundTripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.roundTrips.Add(1)
	return ctx
}
func (c *roundTripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	c.statements.Add(1)
}
func (c *roundTripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func TestRoundTripsPerActionStayWithinTheirBudget(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	counter := &roundTripCounter{}
	cfg.ConnConfig.Tracer = counter
	db, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	svc := loyalty.New(db)
	h := routes.Mux(routes.Table(&hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet}, svc), server.Health(db, nil))
	store := lt.Store(t, db)
	crew := lt.Staff(t, db, store, loyalty.Manager)
	id, code := lt.Member(t, db)
	lt.Give(t, svc, id, 1000)
	reward := lt.Reward(t, db, lt.RewardSpec{Cost: 10})

	cases := []struct {
		action  string
		input   in
		session map[string]string
		budget  int64 // round trips, BEGIN and COMMIT included; lower it when a change cuts one
	}{
		{"earnPoints", in{"storeId": store, "receiptNo": "R-1", "amount": 2000, "memberCode": code}, staff(crew), 14},
		{"redeemReward", in{"rewardId": reward, "idempotencyKey": uuid.NewString()}, member(id), 10},
		{"refundOrder", in{"storeId": store, "receiptNo": "R-1"}, staff(crew), 12},
		{"adjustPoints", in{"memberId": id, "points": 5, "reason": "test", "idempotencyKey": uuid.NewString()}, hasuratest.Admin(), 8},
	}
	for _, c := range cases {
		trips, statements := counter.roundTrips.Load(), counter.statements.Load()
		hasuratest.DecodeOutput[map[string]any](t, hasuratest.Do(t, h, hasuratest.ActionRequest(t, c.action, map[string]any{"input": c.input}, c.session)))
		trips, statements = counter.roundTrips.Load()-trips, counter.statements.Load()-statements
		t.Logf("%s: %d round trips, %d statements", c.action, trips, statements)
		if trips > c.budget {
			t.Errorf("%s made %d round trips, over its budget of %d", c.action, trips, c.budget)
		}
	}
}
