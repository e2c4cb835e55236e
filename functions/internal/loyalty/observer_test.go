package loyalty_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// tally is an Observer that adds up what it is told.
type tally struct {
	mu      sync.Mutex
	points  map[string]int64
	coupons map[string]int
}

func (t *tally) Points(kind string, n int64) { t.mu.Lock(); t.points[kind] += n; t.mu.Unlock() }
func (t *tally) Coupons(event string, n int) { t.mu.Lock(); t.coupons[event] += n; t.mu.Unlock() }

func TestTheObserverHearsOfCommittedEffectsOnceEach(t *testing.T) {
	w := newWorld(t)
	seen := &tally{points: map[string]int64{}, coupons: map[string]int{}}
	w.svc = loyalty.New(w.db, loyalty.WithClock(func() time.Time { return w.now }), loyalty.WithObserver(seen))
	id, code := lt.Member(t, w.db)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-1", 50_000))
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "R-1", 50_000)) // a repeat: nothing more
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 100, ValidDays: 1})
	key := uuid.NewString()
	coupon := must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: key}))
	must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: key}))
	must[loyalty.UseCouponOutput](t)(w.svc.UseCoupon(context.Background(), w.crew, loyalty.UseCouponInput{StoreID: w.store, CouponCode: coupon.CouponCode}))
	must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: uuid.NewString()}))
	run := loyalty.CronRun{Delivery: loyalty.Delivery{Trigger: "expire_coupons", ID: "run-1"}, ScheduledTime: w.now.Add(48 * time.Hour)}
	must[loyalty.Outcome](t)(w.svc.ExpireCoupons(context.Background(), run))
	must[loyalty.Outcome](t)(w.svc.ExpireCoupons(context.Background(), run)) // a redelivery

	if seen.points[loyalty.KindEarn] != 500 || seen.points[loyalty.KindRedeem] != 200 {
		t.Errorf("points told %v; want 500 earned and 200 spent", seen.points)
	}
	if seen.coupons[loyalty.CouponIssued] != 2 || seen.coupons[loyalty.CouponUsed] != 1 || seen.coupons[loyalty.CouponExpired] != 1 {
		t.Errorf("coupons told %v; want 2 issued, 1 used, 1 expired", seen.coupons)
	}
}
