package routes_test

// How many round trips to PostgreSQL each action makes, counted by a pgx tracer: a budget, so
// a change that adds one fails here. A round trip is a statement sent alone (BEGIN and COMMIT
// included) or a batch of statements sent together (pgx.Batch: one write, one wait). The
// statements inside batches are counted too, and logged, but only round trips are budgeted:
// they are what a caller waits for, and what the member's row lock is held across. Two is the
// least a transaction that reads, decides in Go and writes can make: BEGIN goes with the first
// batch of reads, COMMIT with the write (database.InTx, database.CommitWith).

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/server"
)

func TestRoundTripsPerActionStayWithinTheirBudget(t *testing.T) {
	counter := &pgtest.RoundTrips{}
	db := pgtest.TracedPool(t, pgtest.URL(t), counter) // the binary's pool configuration (database.Config), with a counting tracer
	svc := loyalty.New(db)
	h := routes.Mux(routes.Table(&hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet}, svc), server.Health(db, nil))
	store := lt.Store(t, db)
	crew := lt.Staff(t, db, store, loyalty.Manager)
	id, code := lt.Member(t, db)
	lt.Give(t, svc, id, 1000)
	reward := lt.Reward(t, db, lt.RewardSpec{Cost: 10})

	posOrder := uuid.NewString()
	var couponCode string
	action := func(name string, input in, session map[string]string) func() *http.Request {
		return func() *http.Request {
			return hasuratest.ActionRequest(t, name, map[string]any{"input": input}, session)
		}
	}
	cases := []struct {
		name    string
		request func() *http.Request
		budget  int64 // round trips, BEGIN and COMMIT included; lower it when a change cuts one
	}{
		{"earnPoints", action("earnPoints", in{"storeId": store, "receiptNo": "R-1", "amount": 2000, "memberCode": code}, staff(crew)), 2},
		{"earnPoints again (a retry)", action("earnPoints", in{"storeId": store, "receiptNo": "R-1", "amount": 2000, "memberCode": code}, staff(crew)), 2},
		{"redeemReward", action("redeemReward", in{"rewardId": reward, "idempotencyKey": uuid.NewString()}, member(id)), 2},
		{"useCoupon", func() *http.Request {
			return hasuratest.ActionRequest(t, "useCoupon", map[string]any{"input": in{"storeId": store, "couponCode": couponCode}}, staff(crew))
		}, 2},
		{"refundOrder", action("refundOrder", in{"storeId": store, "receiptNo": "R-1"}, staff(crew)), 2},
		{"adjustPoints", action("adjustPoints", in{"memberId": id, "points": 5, "reason": "test", "idempotencyKey": uuid.NewString()}, hasuratest.Admin()), 2},
		{"adjustPoints, a debit", action("adjustPoints", in{"memberId": id, "points": -5, "reason": "test", "idempotencyKey": uuid.NewString()}, hasuratest.Admin()), 2},
		// The delivery's claim goes with the reads, its outcome with the write and the COMMIT.
		{"order_paid", func() *http.Request {
			lt.Exec(t, db, `INSERT INTO orders (id, store_id, receipt_no, member_id, amount, status) VALUES ($1, $2, 'POS-1', $3, 3000, 'paid')`, posOrder, store, id)
			row := json.RawMessage(`{"id":"` + posOrder + `"}`)
			return hasuratest.EventRequest(t, "order_paid", "orders", hasura.OpInsert, nil, row)
		}, 2},
		{"point_transaction_created", func() *http.Request {
			var entry string
			if err := db.QueryRow(context.Background(), `SELECT id FROM point_transactions WHERE kind = 'earn' ORDER BY seq DESC LIMIT 1`).Scan(&entry); err != nil {
				t.Fatal(err)
			}
			row := json.RawMessage(`{"id":"` + entry + `"}`)
			return hasuratest.EventRequest(t, "point_transaction_created", "point_transactions", hasura.OpInsert, nil, row)
		}, 2},
	}
	for _, c := range cases {
		req := c.request()
		trips, statements := counter.Trips.Load(), counter.Statements.Load()
		rec := hasuratest.Do(t, h, req)
		trips, statements = counter.Trips.Load()-trips, counter.Statements.Load()-statements
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", c.name, rec.Code, rec.Body)
		}
		if c.name == "redeemReward" {
			couponCode = hasuratest.DecodeOutput[map[string]any](t, rec)["couponCode"].(string)
		}
		t.Logf("%s: %d round trips, %d statements", c.name, trips, statements)
		if trips > c.budget {
			t.Errorf("%s made %d round trips, over its budget of %d", c.name, trips, c.budget)
		}
	}
	lt.CheckInvariants(t, db)
}
