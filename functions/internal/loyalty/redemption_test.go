package loyalty_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

// betweenReadAndWrite is a pgx tracer that calls hook once, right after the first batch that
// reads a reward (a redemption's read) has been read, before the redemption writes; reads
// counts those batches, so a redemption that ran twice shows.
type betweenReadAndWrite struct {
	once  sync.Once
	hook  func()
	reads atomic.Int64
}

type readsReward struct{}

func (b *betweenReadAndWrite) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, readsReward{}, new(bool))
}

func (b *betweenReadAndWrite) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	if strings.Contains(d.SQL, "FROM rewards WHERE id") {
		*ctx.Value(readsReward{}).(*bool) = true
	}
}

func (b *betweenReadAndWrite) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	if *ctx.Value(readsReward{}).(*bool) {
		b.reads.Add(1)
		b.once.Do(b.hook)
	}
}

func (b *betweenReadAndWrite) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (b *betweenReadAndWrite) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A redemption reads the member's balance without their lock and locks them only in its
// write. When another redemption empties the lot that expires first in between, the write
// takes from the next lot, as the lots are under the lock: it does not fail and run again
// (before, it took what Go had planned from the emptied lot, failed, paused and retried with
// the member locked across a round trip: a burst of retries each time a hot member's lot ran
// dry).
func TestARedemptionWhoseFirstLotEmptiesBeforeItsWriteTakesFromTheNextWithoutARetry(t *testing.T) {
	url := pgtest.URL(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := loyalty.WithClock(func() time.Time { return now })
	db := pgtest.TracedPool(t, url, nil)
	other := loyalty.New(db, clock) // another pod, with its own queue of redemptions
	id, _ := lt.Member(t, db)
	lt.Give(t, other, id, 10) // the lot that expires first
	now = now.Add(time.Hour)
	lt.Give(t, other, id, 1000)
	small := lt.Reward(t, db, lt.RewardSpec{Cost: 5})
	draining := lt.Reward(t, db, lt.RewardSpec{Cost: 10})

	tracer := &betweenReadAndWrite{}
	tracer.hook = func() {
		_, err := other.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: draining, IdempotencyKey: "drain"})
		if err != nil {
			t.Errorf("the redemption in between: %v", err)
		}
	}
	svc := loyalty.New(pgtest.TracedPool(t, url, tracer), clock)
	out, err := svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: small, IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if n := tracer.reads.Load(); n != 1 {
		t.Errorf("the redemption read %d times; want once (no retry)", n)
	}
	if out.PointsBalance != 995 || lt.Balance(t, db, id) != 995 {
		t.Errorf("balance answered %d, stored %d; want 995", out.PointsBalance, lt.Balance(t, db, id))
	}
	if got := lt.Count(t, db, `SELECT count(*) FROM point_lots WHERE member_id = $1 AND remaining = points - 5 AND points = 1000`, id); got != 1 {
		t.Errorf("the later lot did not give the 5 points")
	}
	if got := lt.Count(t, db, `SELECT count(*) FROM point_lots WHERE member_id = $1 AND remaining = 0 AND points = 10`, id); got != 1 {
		t.Errorf("the first lot is not empty")
	}
	lt.CheckInvariants(t, db)
}

// memberWithCountedRedemptions is a fresh database (db, untraced), a member holding points, and
// a service whose redemptions' reads are counted (reads).
func memberWithCountedRedemptions(t *testing.T, points int64) (db *pgxpool.Pool, svc *loyalty.Service, reads *betweenReadAndWrite, id string) {
	t.Helper()
	url := pgtest.URL(t)
	db = pgtest.TracedPool(t, url, nil)
	reads = &betweenReadAndWrite{hook: func() {}}
	svc = loyalty.New(pgtest.TracedPool(t, url, reads))
	id, _ = lt.Member(t, db)
	lt.Give(t, svc, id, points)
	return db, svc, reads, id
}

// Lots that hold less than the balance are a broken ledger, not a race: the redemption fails
// at once (no retries, not a refusal, not a fault a retry cures) and writes nothing.
func TestARedemptionFromLotsThatHoldLessThanTheBalanceFailsWithoutRetriesAndWritesNothing(t *testing.T) {
	db, svc, reads, id := memberWithCountedRedemptions(t, 100)
	reward := lt.Reward(t, db, lt.RewardSpec{Cost: 10})
	lt.Exec(t, db, `UPDATE point_lots SET remaining = 5 WHERE member_id = $1`, id) // broken by hand
	_, err := svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "k"})
	var le *loyalty.Error
	if err == nil || errors.As(err, &le) || database.IsTransient(err) || !strings.Contains(err.Error(), "ledger invariant broken") {
		t.Fatalf("err = %v; want the broken ledger, neither a refusal nor a transient fault", err)
	}
	if n := reads.reads.Load(); n != 1 {
		t.Errorf("the redemption ran %d times; want once", n)
	}
	if n := lt.Count(t, db, `SELECT count(*) FROM coupons WHERE member_id = $1`, id); n != 0 {
		t.Errorf("%d coupons written", n)
	}
	if n := lt.Count(t, db, `SELECT count(*) FROM point_transactions WHERE member_id = $1 AND kind = 'redeem'`, id); n != 0 {
		t.Errorf("%d redeem entries written", n)
	}
	if b := lt.Balance(t, db, id); b != 100 {
		t.Errorf("balance %d; want 100", b)
	}
}

// The coupon being issued is already in the table when the write counts a limited reward's
// coupons again under the lock: the recount leaves it out, so a redemption within the limit
// runs once (counting it, every redemption that reaches the limit, a reward of one per member
// at the first coupon, failed its first attempt and ran again with the member locked).
func TestARedemptionOfALimitedRewardRunsOnce(t *testing.T) {
	db, svc, reads, id := memberWithCountedRedemptions(t, 100)
	one := 1
	reward := lt.Reward(t, db, lt.RewardSpec{Cost: 10, PerMemberLimit: &one})
	if _, err := svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if n := reads.reads.Load(); n != 1 {
		t.Errorf("the redemption ran %d times; want once", n)
	}
	_, err := svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "k2"})
	wantCode(t, err, loyalty.CodeLimitReached)
	lt.CheckInvariants(t, db)
}

// inFlight is a pgx tracer that counts the redemptions with an open transaction: from the
// batch that reads the reward to the end of the batch that writes the coupon (with the
// COMMIT), and keeps the most at once.
type inFlight struct {
	mu        sync.Mutex
	now, most int
}

type writesCoupon struct{}

func (f *inFlight) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	for _, q := range d.Batch.QueuedQueries {
		switch {
		case strings.Contains(q.SQL, "FROM rewards WHERE id"):
			f.mu.Lock()
			f.now++
			f.most = max(f.most, f.now)
			f.mu.Unlock()
			return ctx
		case strings.Contains(q.SQL, "INSERT INTO coupons"):
			return context.WithValue(ctx, writesCoupon{}, true)
		}
	}
	return ctx
}

func (f *inFlight) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (f *inFlight) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	if ctx.Value(writesCoupon{}) != nil {
		f.mu.Lock()
		f.now--
		f.mu.Unlock()
	}
}

func (f *inFlight) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (f *inFlight) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// One process lets three of a member's redemptions run at a time (one holding the member's
// lock, one waiting for it, one reading ahead); the others wait their turn in Go, and all
// of them are served. (Other members' redemptions have turns of their own: turns.Queues
// keeps one queue per key.)
func TestAProcessRunsAtMostThreeOfAMembersRedemptionsAtATime(t *testing.T) {
	tracer := &inFlight{}
	db := pgtest.TracedPool(t, pgtest.URL(t), tracer)
	svc := loyalty.New(db)
	id, _ := lt.Member(t, db)
	lt.Give(t, svc, id, 1000)
	reward := lt.Reward(t, db, lt.RewardSpec{Cost: 1})
	ok, codes := parallel(t, 30, func(i int) error {
		_, err := svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: fmt.Sprint("k", i)})
		return err
	})
	if ok != 30 {
		t.Fatalf("%d redeemed, refusals %v; want all 30", ok, codes)
	}
	if b := lt.Balance(t, db, id); b != 970 {
		t.Errorf("balance %d; want 970", b)
	}
	if tracer.most > 3 {
		t.Errorf("%d of the member's redemptions were in a transaction at once; want at most 3", tracer.most)
	}
	lt.CheckInvariants(t, db)
}

// A coupon code that is taken already (drawn twice) inserts no coupon; the redemption then
// spends nothing on that attempt and runs again with a new code.
func TestARedemptionWhoseCouponCodeIsTakenRunsAgainWithANewCode(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 100)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})
	first, err := w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "first"})
	if err != nil {
		t.Fatal(err)
	}
	// The next coupon's code comes out as the first one's, once (a sequence: not rolled back
	// with the attempt).
	lt.Exec(t, w.db, `CREATE SEQUENCE test_draws`)
	lt.Exec(t, w.db, `CREATE FUNCTION test_draw_twice() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('test_draws') = 1 THEN
				NEW.code := '`+first.CouponCode+`';
			END IF;
			RETURN NEW;
		END $$`)
	lt.Exec(t, w.db, `CREATE TRIGGER test_draw_twice BEFORE INSERT ON coupons FOR EACH ROW EXECUTE FUNCTION test_draw_twice()`)
	second, err := w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if n := lt.Count(t, w.db, `SELECT last_value FROM test_draws`); n != 2 {
		t.Errorf("%d coupon inserts; want 2 (the taken code, then a new one)", n)
	}
	if second.CouponCode == first.CouponCode || second.PointsBalance != 80 {
		t.Fatalf("second redemption %+v after %+v; want another code and a balance of 80", second, first)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE member_id = $1 AND status = 'issued'`, id); n != 2 {
		t.Errorf("%d coupons; want 2", n)
	}
	if b := lt.Balance(t, w.db, id); b != 80 {
		t.Errorf("balance %d; want 80", b)
	}
}
