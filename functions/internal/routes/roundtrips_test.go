package routes_test

// How many statements each action sends to PostgreSQL, counted by a pgx QueryTracer: a
// ratchet, so a change that adds round trips fails here. The figures are today's; the target
// (earn within 4 with BEGIN and COMMIT, redeem within 5) needs the earn and redeem paths
// folded into fewer statements, and each cut should lower its line below.

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

// statementCounter counts every statement a pool sends (BEGIN and COMMIT included).
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func TestRoundTripsPerActionStayWithinTheirBudget(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	counter := &statementCounter{}
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
		budget  int64 // statements, BEGIN and COMMIT included; lower it when a change cuts one
	}{
		{"earnPoints", in{"storeId": store, "receiptNo": "R-1", "amount": 2000, "memberCode": code}, staff(crew), 14},
		{"redeemReward", in{"rewardId": reward, "idempotencyKey": uuid.NewString()}, member(id), 10},
		{"refundOrder", in{"storeId": store, "receiptNo": "R-1"}, staff(crew), 12},
		{"adjustPoints", in{"memberId": id, "points": 5, "reason": "test", "idempotencyKey": uuid.NewString()}, hasuratest.Admin(), 8},
	}
	for _, c := range cases {
		before := counter.n.Load()
		hasuratest.DecodeOutput[map[string]any](t, hasuratest.Do(t, h, hasuratest.ActionRequest(t, c.action, map[string]any{"input": c.input}, c.session)))
		sent := counter.n.Load() - before
		t.Logf("%s: %d statements", c.action, sent)
		if sent > c.budget {
			t.Errorf("%s sent %d statements, over its budget of %d", c.action, sent, c.budget)
		}
	}
}
