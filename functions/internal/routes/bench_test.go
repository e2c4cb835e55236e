package routes_test

// Benchmarks of earnPoints and redeemReward, each measured three ways on the same fixture:
//
//   - ...HTTP: the served mux (routes.Mux over routes.Table) with an httptest recorder, no
//     network: the request body is decoded, the secret checked, the session read, the domain
//     operation run on PostgreSQL, the answer encoded and the request logged (JSON, to
//     io.Discard, as the binary logs JSON to stdout).
//   - ...SQL: the statements the domain operation sends, copied from loyalty (caller.go,
//     service.go, earn.go, events.go, ledger.go, redeem.go), sent with pgx in one transaction.
//   - ...EnvelopeOnly: the envelope alone with the same request and an output of the same
//     shape, and no database at all.
//
// HTTP - SQL is what the handler layers (envelope, route, domain code in Go) add to the
// database work; EnvelopeOnly is the share of it that is JSON and HTTP.
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
	"strconv"
	"sync/atomic"
	"testing"
	"time"

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

// --- the same statements, straight to PostgreSQL -----------------------------------------------

// The statements below are copied from package loyalty; keep them in step with it.
const (
	sqlStoreActive = `SELECT active FROM stores WHERE id = $1`
	sqlStaffRole   = `SELECT role FROM staff WHERE user_id = $1 AND store_id = $2 AND active`
	sqlSettings    = `
		SELECT earn_spend_unit, earn_points_per_unit, points_validity_days, welcome_bonus_points,
		       birthday_bonus_points, max_order_amount, qr_token_ttl_seconds, timezone
		FROM program_settings WHERE id = 1`
	sqlMemberByCode = `SELECT id FROM members WHERE member_code = $1 AND deleted_at IS NULL`
	sqlClaimOrder   = `
		INSERT INTO orders (store_id, receipt_no, member_id, amount, status, paid_at)
		VALUES ($1, $2, $3, $4, 'paid', $5)
		ON CONFLICT (store_id, receipt_no) DO NOTHING
		RETURNING id`
	sqlLockMember = `SELECT m.id, m.member_code, m.tier_id, t.rank, t.earn_multiplier_pct, m.points_balance, m.deleted_at IS NOT NULL
		FROM members m JOIN tiers t ON t.id = m.tier_id WHERE m.id = $1 FOR NO KEY UPDATE OF m`
	sqlPost = `
		INSERT INTO point_transactions (member_id, kind, points, balance_after, order_id, coupon_id, store_id, reason, idempotency_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING id, balance_after`
	sqlSetBalance = `UPDATE members SET points_balance = $2 WHERE id = $1`
	sqlOpenLot    = `
			INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
			VALUES ($1, $2, $3, $4, $5::timestamptz, $5::timestamptz + make_interval(days => $6))`
	sqlEarnedInYear = `
		SELECT coalesce(sum(points), 0) FROM point_transactions
		WHERE member_id = $1 AND kind IN ('earn', 'refund')
		  AND created_at > $2::timestamptz - interval '365 days' AND created_at <= $2::timestamptz`
	sqlTiers = `SELECT id, rank, min_points, earn_multiplier_pct FROM tiers ORDER BY rank`

	sqlRedemptionByKey = `
		SELECT c.id, c.code, c.expires_at, -t.points, t.balance_after, c.reward_id
		FROM point_transactions t JOIN coupons c ON c.id = t.coupon_id
		WHERE t.idempotency_key = $1`
	sqlReward = `
			SELECT name, points_cost, stock, per_member_limit, min_tier_rank, coupon_valid_days, active, active_from, active_to
			FROM rewards WHERE id = $1`
	sqlTakeStock   = `UPDATE rewards SET stock = stock - 1 WHERE id = $1 AND stock > 0`
	sqlIssueCoupon = `
			INSERT INTO coupons (code, member_id, reward_id, status, issued_at, expires_at)
			VALUES ($1, $2, $3, 'issued', $4, $5)
			ON CONFLICT (code) DO NOTHING RETURNING id`
	sqlOpenLots = `
		SELECT id, remaining, expires_at FROM point_lots
		WHERE member_id = $1 AND remaining > 0
		ORDER BY expires_at, id`
	sqlTakeFromLots = `
		UPDATE point_lots l SET remaining = l.remaining - d.take
		FROM unnest($1::uuid[], $2::bigint[]) AS d(id, take)
		WHERE l.id = d.id`
)

type lockedMember struct {
	id, code, tier string
	rank, pct      int
	balance        int64
	deleted        bool
}

func lockMemberSQL(ctx context.Context, tx pgx.Tx, id string) (lockedMember, error) {
	var m lockedMember
	err := tx.QueryRow(ctx, sqlLockMember, id).Scan(&m.id, &m.code, &m.tier, &m.rank, &m.pct, &m.balance, &m.deleted)
	return m, err
}

// earnSQL is EarnPoints by member code for a crew member, as statements: authorize the store,
// load the settings, find the member, record the order, lock the member, post the earn entry
// (balance and lot), check the tier, and look at the order for an earlier refund.
func (fx *benchFixture) earnSQL(ctx context.Context, receipt, code string) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return pgx.BeginTxFunc(ctx, fx.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var active bool
		if err := tx.QueryRow(ctx, sqlStoreActive, fx.store).Scan(&active); err != nil {
			return err
		}
		var role string
		if err := tx.QueryRow(ctx, sqlStaffRole, fx.crew, fx.store).Scan(&role); err != nil {
			return err
		}
		var st loyalty.Settings
		if err := tx.QueryRow(ctx, sqlSettings).Scan(&st.EarnSpendUnit, &st.EarnPointsPerUnit, &st.PointsValidityDays, &st.WelcomeBonusPoints,
			&st.BirthdayBonusPoints, &st.MaxOrderAmount, &st.QRTokenTTLSeconds, &st.Timezone); err != nil {
			return err
		}
		var memberID, orderID string
		if err := tx.QueryRow(ctx, sqlMemberByCode, code).Scan(&memberID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, sqlClaimOrder, fx.store, receipt, memberID, int64(benchAmount), now).Scan(&orderID); err != nil {
			return err
		}
		m, err := lockMemberSQL(ctx, tx, memberID)
		if err != nil {
			return err
		}
		points := loyalty.PointsFor(benchAmount, st, m.pct)
		after := m.balance + points
		var txID string
		var balanceAfter int64
		if err := tx.QueryRow(ctx, sqlPost, m.id, loyalty.KindEarn, points, after, &orderID, nil, &fx.store, nil, "earn:"+orderID, now).
			Scan(&txID, &balanceAfter); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlSetBalance, m.id, after); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlOpenLot, m.id, txID, points, max(after, 0)-max(m.balance, 0), now, st.PointsValidityDays); err != nil {
			return err
		}
		var earned int64
		if err := tx.QueryRow(ctx, sqlEarnedInYear, m.id, now).Scan(&earned); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sqlTiers)
		if err != nil {
			return err
		}
		tiers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (loyalty.Tier, error) {
			var t loyalty.Tier
			err := r.Scan(&t.ID, &t.Rank, &t.MinPoints, &t.MultiplierPct)
			return t, err
		})
		if err != nil {
			return err
		}
		if best, ok := loyalty.TierFor(tiers, earned); ok && best.Rank > m.rank {
			return errors.New("the benchmark's members must stay at tier member")
		}
		return nil
	})
}

// redeemSQL is RedeemReward as statements: lock the member, look the key up, read the reward,
// take one from stock, issue the coupon, post the redeem entry (balance) and take the points
// from the lots that expire first.
func (fx *benchFixture) redeemSQL(ctx context.Context, memberID, key string) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	key = "redeem:" + memberID + ":" + key
	return pgx.BeginTxFunc(ctx, fx.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		m, err := lockMemberSQL(ctx, tx, memberID)
		if err != nil {
			return err
		}
		var first struct {
			id, code, reward string
			expires          time.Time
			spent, balance   int64
		}
		err = tx.QueryRow(ctx, sqlRedemptionByKey, key).Scan(&first.id, &first.code, &first.expires, &first.spent, &first.balance, &first.reward)
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("key %s: want no earlier redemption, got %v", key, err)
		}
		var r struct {
			name              string
			cost              int64
			stock, limit      *int32
			minRank, days     int
			active            bool
			activeFrom, until *time.Time
		}
		if err := tx.QueryRow(ctx, sqlReward, fx.reward).Scan(&r.name, &r.cost, &r.stock, &r.limit, &r.minRank, &r.days, &r.active, &r.activeFrom, &r.until); err != nil {
			return err
		}
		if m.balance < r.cost {
			return errors.New("the benchmark's member ran out of points")
		}
		if tag, err := tx.Exec(ctx, sqlTakeStock, fx.reward); err != nil || tag.RowsAffected() != 1 {
			return fmt.Errorf("take stock: %v (%d rows)", err, tag.RowsAffected())
		}
		var couponID string
		if err := tx.QueryRow(ctx, sqlIssueCoupon, loyalty.NewCouponCode(), memberID, fx.reward, now, now.AddDate(0, 0, r.days)).Scan(&couponID); err != nil {
			return err
		}
		after := m.balance - r.cost
		var txID string
		var balanceAfter int64
		if err := tx.QueryRow(ctx, sqlPost, m.id, loyalty.KindRedeem, -r.cost, after, nil, &couponID, nil, nil, key, now).Scan(&txID, &balanceAfter); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlSetBalance, m.id, after); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sqlOpenLots, m.id)
		if err != nil {
			return err
		}
		lots, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (loyalty.Lot, error) {
			var l loyalty.Lot
			err := row.Scan(&l.ID, &l.Remaining, &l.ExpiresAt)
			return l, err
		})
		if err != nil {
			return err
		}
		takes, short := loyalty.AllocateFIFO(lots, max(m.balance, 0)-max(after, 0))
		if short > 0 {
			return errors.New("lots hold less than the balance")
		}
		ids, amounts := make([]string, len(takes)), make([]int64, len(takes))
		for i, t := range takes {
			ids[i], amounts[i] = t.LotID, t.Points
		}
		_, err = tx.Exec(ctx, sqlTakeFromLots, ids, amounts)
		return err
	})
}

func BenchmarkEarnPointsSQL(b *testing.B) {
	ctx := context.Background()
	variants(b, func(b *testing.B, fx *benchFixture, parallel bool) {
		fx.run(b, parallel, func(i int64) error {
			return fx.earnSQL(ctx, "B-"+strconv.FormatInt(i, 10), fx.member(i).code)
		})
	})
}

func BenchmarkRedeemRewardSQL(b *testing.B) {
	ctx := context.Background()
	variants(b, func(b *testing.B, fx *benchFixture, parallel bool) {
		fx.run(b, parallel, func(i int64) error {
			return fx.redeemSQL(ctx, fx.member(i).id, "B-"+strconv.FormatInt(i, 10))
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

// TestBenchmarkPathsDoTheSameWork keeps the SQL copies honest: one earn and one redemption
// each way, on the same member, must move the ledger, the balance, the lots, the stock and
// the coupons alike.
func TestBenchmarkPathsDoTheSameWork(t *testing.T) {
	fx := newBenchFixture(t)
	ctx := context.Background()
	m := fx.members[0]
	type effect struct{ balance, lots, ledger, coupons, orders, stock int64 }
	measure := func() effect {
		return effect{
			balance: lt.Balance(t, fx.db, m.id),
			lots:    lt.Count(t, fx.db, `SELECT coalesce(sum(remaining), 0)::bigint FROM point_lots WHERE member_id = $1`, m.id),
			ledger:  lt.Count(t, fx.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1`, m.id),
			coupons: lt.Count(t, fx.db, `SELECT count(*) FROM coupons WHERE member_id = $1`, m.id),
			orders:  lt.Count(t, fx.db, `SELECT count(*) FROM orders WHERE member_id = $1`, m.id),
			stock:   lt.Count(t, fx.db, `SELECT stock FROM rewards WHERE id = $1`, fx.reward),
		}
	}
	diff := func(a, b effect) effect {
		return effect{b.balance - a.balance, b.lots - a.lots, b.ledger - a.ledger, b.coupons - a.coupons, b.orders - a.orders, b.stock - a.stock}
	}
	steps := []struct {
		name string
		http func() error
		sql  func() error
		want effect
	}{
		{"earn", func() error {
			out, err := serve(fx.h, "/earnPoints", fx.earnBody(0))
			if err == nil && !bytes.Contains(out, []byte(`"pointsEarned":10`)) {
				err = fmt.Errorf("earn answered %s", out)
			}
			return err
		}, func() error { return fx.earnSQL(ctx, "SQL-0", m.code) }, effect{benchPoints, benchPoints, 1, 0, 1, 0}},
		{"redeem", func() error {
			_, err := serve(fx.h, "/redeemReward", fx.redeemBody(0))
			return err
		}, func() error { return fx.redeemSQL(ctx, m.id, "SQL-0") }, effect{-benchCost, -benchCost, 1, 1, 0, -1}},
	}
	for _, s := range steps {
		t.Run(s.name+" moves the same things by HTTP and by SQL", func(t *testing.T) {
			before := measure()
			if err := s.http(); err != nil {
				t.Fatal(err)
			}
			mid := measure()
			if err := s.sql(); err != nil {
				t.Fatal(err)
			}
			after := measure()
			if byHTTP, bySQL := diff(before, mid), diff(mid, after); byHTTP != s.want || bySQL != s.want {
				t.Fatalf("by HTTP %+v, by SQL %+v; want %+v each", byHTTP, bySQL, s.want)
			}
		})
	}
}
