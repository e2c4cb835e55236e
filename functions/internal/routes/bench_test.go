package routes_test

// Benchmarks of earnPoints and redeemReward, each measured two ways on the same fixture:
//
//   - ...HTTP: the served mux (routes.Mux over routes.Table) with an httptest recorder, no
//     network: the request body is decoded, the secret checked, the session read, the domain
//     operation run on PostgreSQL, the answer encoded and the request logged (JSON, to
//     io.Discard, as the binary logs JSON to stdout).
//   - ...EnvelopeOnly: the envelope alone with the same request and an output of the same
//     shape, and no database at all.
//
// EnvelopeOnly is the share of HTTP that is JSON and HTTP. (The handler against the least
// an earn can ask of PostgreSQL, side by side, is BenchmarkSideBySide.)
//
// Each benchmark against the database has a serial variant and a concurrent one (b.RunParallel
// with 4 goroutines per GOMAXPROCS: goroutines8 on 2 cores). Every iteration uses a fresh receipt or idempotency key; the work is spread
// over benchMembers members so that no member's ledger grows long enough to slow the
// 365-day tier sum, and every member holds enough points up front for every redemption.
//
//	go test ./functions/internal/routes/ -run '^$' -bench . -benchtime 2s

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/server"
)

const (
	benchMembers     = 64
	benchConcurrency = 4 // b.SetParallelism: 4 x GOMAXPROCS goroutines
	benchAmount      = 1000
	benchPoints      = 10 // what benchAmount earns at tier member (1 point per 100)
	benchCost        = 1  // the reward's points_cost
)

// benchFixture is one fresh database: a store with a crew member, benchMembers members each
// holding a large balance in one lot, and a reward with a large finite stock (so that every
// redemption takes one from stock, as a real limited reward does).
type benchFixture struct {
	db      *pgxpool.Pool
	h       http.Handler
	store   string
	crew    string
	reward  string
	members []benchMember
	seq     atomic.Int64 // makes receipts and idempotency keys unique
}

type benchMember struct{ id, code string }

func newBenchFixture(b testing.TB) *benchFixture {
	b.Helper()
	db := pgtest.Pool(b)
	svc := loyalty.New(db)
	fx := &benchFixture{db: db}
	env := &hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet}
	fx.h = routes.Mux(routes.Table(env, svc), server.Health(db, nil))
	fx.store = lt.Store(b, db)
	fx.crew = lt.Staff(b, db, fx.store, loyalty.Crew)
	stock := 1 << 30
	fx.reward = lt.Reward(b, db, lt.RewardSpec{Cost: benchCost, Stock: &stock})
	for range benchMembers {
		id, code := lt.Member(b, db)
		lt.Give(b, svc, id, 1_000_000)
		fx.members = append(fx.members, benchMember{id, code})
	}
	b.Cleanup(func() { lt.CheckInvariants(b, db) })
	return fx
}

func (fx *benchFixture) member(i int64) benchMember { return fx.members[i%benchMembers] }

// run calls step b.N times, serially or from benchConcurrency x GOMAXPROCS goroutines.
func (fx *benchFixture) run(b *testing.B, parallel bool, step func(i int64) error) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for range b.N {
			if err := step(fx.seq.Add(1)); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(benchConcurrency)
	var failed atomic.Bool
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if failed.Load() {
				continue
			}
			if err := step(fx.seq.Add(1)); err != nil && !failed.Swap(true) {
				b.Error(err)
			}
		}
	})
}

// variants runs a benchmark serially and concurrently, each on a fresh fixture.
func variants(b *testing.B, bench func(b *testing.B, fx *benchFixture, parallel bool)) {
	b.Run("serial", func(b *testing.B) { bench(b, newBenchFixture(b), false) })
	b.Run(fmt.Sprintf("goroutines%d", benchConcurrency*runtime.GOMAXPROCS(0)), func(b *testing.B) { bench(b, newBenchFixture(b), true) })
}

// --- the HTTP path ----------------------------------------------------------------------------

func (fx *benchFixture) earnBody(i int64) []byte {
	return fmt.Appendf(nil, `{"action":{"name":"earnPoints"},"input":{"input":{"storeId":%q,"receiptNo":"B-%d","amount":%d,"memberCode":%q}},`+
		`"session_variables":{"x-hasura-role":"staff","x-hasura-user-id":%q},"request_query":"mutation { earnPoints }"}`,
		fx.store, i, benchAmount, fx.member(i).code, fx.crew)
}

func (fx *benchFixture) redeemBody(i int64) []byte {
	return fmt.Appendf(nil, `{"action":{"name":"redeemReward"},"input":{"input":{"rewardId":%q,"idempotencyKey":"B-%d"}},`+
		`"session_variables":{"x-hasura-role":"member","x-hasura-user-id":%q},"request_query":"mutation { redeemReward }"}`,
		fx.reward, i, fx.member(i).id)
}

// serve posts body to path on h as Hasura does and returns the answer's body; any status
// but 200 is an error.
func serve(h http.Handler, path string, body []byte) ([]byte, error) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", hasuratest.UserAgent)
	req.Header.Set(hasura.SecretHeader, hasuratest.Secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d: %s", path, rec.Code, rec.Body)
	}
	return rec.Body.Bytes(), nil
}

func BenchmarkEarnPointsHTTP(b *testing.B) {
	variants(b, func(b *testing.B, fx *benchFixture, parallel bool) {
		fx.run(b, parallel, func(i int64) error {
			_, err := serve(fx.h, "/earnPoints", fx.earnBody(i))
			return err
		})
	})
}

func BenchmarkRedeemRewardHTTP(b *testing.B) {
	variants(b, func(b *testing.B, fx *benchFixture, parallel bool) {
		fx.run(b, parallel, func(i int64) error {
			_, err := serve(fx.h, "/redeemReward", fx.redeemBody(i))
			return err
		})
	})
}

// --- the envelope alone -----------------------------------------------------------------------

// envelopeOnly serves name with the envelope and an operation that answers out at once: the
// JSON and HTTP share of a handler, with no database.
func envelopeOnly[In, Out any](name string, out Out) http.Handler {
	env := &hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet}
	type args struct {
		Input In `json:"input"`
	}
	mux := http.NewServeMux()
	mux.Handle("/"+name, hasura.Action(env, func(_ context.Context, req *hasura.ActionRequest[args]) (Out, error) {
		if req.Action.Name != name || req.Session.UserID() == "" {
			return out, errors.New("unexpected request")
		}
		return out, nil
	}))
	return mux
}

func BenchmarkEarnPointsEnvelopeOnly(b *testing.B) {
	fx := &benchFixture{store: hasuratest.NewUUID(), crew: hasuratest.NewUUID(), members: make([]benchMember, benchMembers)}
	for i := range fx.members {
		fx.members[i] = benchMember{hasuratest.NewUUID(), loyalty.NewMemberCode()}
	}
	h := envelopeOnly[loyalty.EarnPointsInput]("earnPoints", loyalty.EarnPointsOutput{TransactionID: hasuratest.NewUUID(),
		MemberID: fx.members[0].id, PointsEarned: benchPoints, PointsBalance: 1_000_010, TierID: "member"})
	fx.run(b, false, func(i int64) error {
		_, err := serve(h, "/earnPoints", fx.earnBody(i))
		return err
	})
}

func BenchmarkRedeemRewardEnvelopeOnly(b *testing.B) {
	fx := &benchFixture{reward: hasuratest.NewUUID(), members: make([]benchMember, benchMembers)}
	for i := range fx.members {
		fx.members[i] = benchMember{hasuratest.NewUUID(), loyalty.NewMemberCode()}
	}
	h := envelopeOnly[loyalty.RedeemRewardInput]("redeemReward", loyalty.RedeemRewardOutput{CouponID: hasuratest.NewUUID(),
		CouponCode: loyalty.NewCouponCode(), ExpiresAt: time.Now().UTC(), PointsSpent: benchCost, PointsBalance: 999_999})
	fx.run(b, false, func(i int64) error {
		_, err := serve(h, "/redeemReward", fx.redeemBody(i))
		return err
	})
}
