package loyalty_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// parallel runs fn n times at once and returns how many calls succeeded and the refusal codes
// of the others; any error that is not a refusal fails the test.
func parallel(t *testing.T, n int, fn func(i int) error) (ok int, codes map[loyalty.Code]int) {
	t.Helper()
	var mu sync.Mutex
	codes = map[loyalty.Code]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			err := fn(i)
			mu.Lock()
			defer mu.Unlock()
			var le *loyalty.Error
			switch {
			case err == nil:
				ok++
			case errors.As(err, &le):
				codes[le.Code]++
			default:
				t.Errorf("call %d: %v", i, err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	return ok, codes
}

func TestConcurrentRedeemsFromOneMemberIssueOnlyWhatTheBalanceCovers(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 1000)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 100})
	ok, codes := parallel(t, 200, func(i int) error {
		_, err := w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: fmt.Sprint("k", i)})
		return err
	})
	if ok != 10 || codes[loyalty.CodeInsufficientPoints] != 190 {
		t.Fatalf("%d redeemed, refusals %v; want 10 and 190 insufficient_points", ok, codes)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE member_id = $1`, id); n != 10 {
		t.Fatalf("%d coupons issued, want 10", n)
	}
	if b := lt.Balance(t, w.db, id); b != 0 {
		t.Fatalf("balance %d, want 0", b)
	}
}

// Each pod queues its own writes per member (turns); two pods redeeming for one member at
// once still issue only what the balance covers: the row lock guards across processes.
func TestConcurrentRedeemsFromOneMemberThroughTwoServicesIssueOnlyWhatTheBalanceCovers(t *testing.T) {
	w := newWorld(t)
	pods := []*loyalty.Service{w.svc, loyalty.New(w.db)}
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 1000)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 100})
	ok, codes := parallel(t, 200, func(i int) error {
		_, err := pods[i%2].RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: fmt.Sprint("k", i)})
		return err
	})
	if ok != 10 || codes[loyalty.CodeInsufficientPoints] != 190 {
		t.Fatalf("%d redeemed, refusals %v; want 10 and 190 insufficient_points", ok, codes)
	}
	if b := lt.Balance(t, w.db, id); b != 0 {
		t.Fatalf("balance %d, want 0", b)
	}
}

func TestConcurrentRedeemsByManyMembersNeverExceedStock(t *testing.T) {
	w := newWorld(t)
	five := 5
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, Stock: &five})
	members := make([]string, 50)
	for i := range members {
		members[i], _ = lt.Member(t, w.db)
		lt.Give(t, w.svc, members[i], 10)
	}
	ok, codes := parallel(t, 50, func(i int) error {
		_, err := w.svc.RedeemReward(context.Background(), member(members[i]), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "once"})
		return err
	})
	if ok != 5 || codes[loyalty.CodeOutOfStock] != 45 {
		t.Fatalf("%d redeemed, refusals %v; want 5 and 45 out_of_stock", ok, codes)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE reward_id = $1`, reward); n != 5 {
		t.Fatalf("%d coupons, want 5", n)
	}
	if n := lt.Count(t, w.db, `SELECT stock FROM rewards WHERE id = $1`, reward); n != 0 {
		t.Fatalf("stock left %d, want 0", n)
	}
}

func TestConcurrentEarnsOfOneReceiptCreditOnce(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	var mu sync.Mutex
	var firsts, duplicates int
	txIDs := map[string]bool{}
	ok, codes := parallel(t, 20, func(int) error {
		out, err := w.earn(code, "R-same", 5000)
		if err == nil {
			mu.Lock()
			txIDs[out.TransactionID] = true
			if out.Duplicate {
				duplicates++
			} else {
				firsts++
			}
			mu.Unlock()
		}
		return err
	})
	if ok != 20 || len(codes) != 0 || firsts != 1 || duplicates != 19 || len(txIDs) != 1 {
		t.Fatalf("ok %d refusals %v firsts %d duplicates %d transactions %d; want 20 answers naming one credit", ok, codes, firsts, duplicates, len(txIDs))
	}
	if b := lt.Balance(t, w.db, id); b != 50 {
		t.Fatalf("balance %d, want 50", b)
	}
}

// Two members' cashiers entering the same new receipt at once: neither can lock an order that
// does not exist yet, so the loser's write finds the receipt taken (and runs again, to answer
// receipt_conflict). Exactly one member is credited, once.
func TestConcurrentEarnsOfOneNewReceiptForTwoMembersCreditOneOfThem(t *testing.T) {
	w := newWorld(t)
	a, codeA := lt.Member(t, w.db)
	b, codeB := lt.Member(t, w.db)
	ok, codes := parallel(t, 20, func(i int) error {
		code := codeA
		if i%2 == 1 {
			code = codeB
		}
		_, err := w.earn(code, "R-contested", 5000)
		return err
	})
	balances := lt.Balance(t, w.db, a) + lt.Balance(t, w.db, b)
	if ok != 10 || codes[loyalty.CodeReceiptConflict] != 10 || len(codes) != 1 || balances != 50 {
		t.Fatalf("ok %d refusals %v, balances %d; want one member's 10 calls answered (one credit of 50), the other's 10 receipt_conflict", ok, codes, balances)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE kind = 'earn'`); n != 1 {
		t.Fatalf("%d earn entries, want 1", n)
	}
}

func TestConcurrentUsesOfOneCouponUseItOnce(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 100)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 100})
	c := must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "k"}))
	ok, codes := parallel(t, 20, func(int) error {
		_, err := w.svc.UseCoupon(context.Background(), w.crew, loyalty.UseCouponInput{StoreID: w.store, CouponCode: c.CouponCode})
		return err
	})
	if ok != 1 || codes[loyalty.CodeCouponUsed] != 19 {
		t.Fatalf("%d uses succeeded, refusals %v; want 1 and 19 coupon_used", ok, codes)
	}
}

// TestMixedOperationsKeepEveryInvariant runs earns, redeems, refunds and adjustments at
// random on a few members from many goroutines, retries included, then checks every invariant.
func TestMixedOperationsKeepEveryInvariant(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	const members, workers, opsPerWorker = 4, 16, 200
	ids := make([]string, members)
	codes := make([]string, members)
	for i := range ids {
		ids[i], codes[i] = lt.Member(t, w.db)
	}
	rewards := []string{lt.Reward(t, w.db, lt.RewardSpec{Cost: 30}), lt.Reward(t, w.db, lt.RewardSpec{Cost: 7, Stock: ptr(40)})}
	var receipts sync.Map // receipt -> member index
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for op := 0; op < opsPerWorker; op++ {
				m := rng.IntN(members)
				var err error
				switch k := rng.IntN(10); {
				case k < 4: // earn, sometimes repeating a receipt
					receipt := fmt.Sprintf("R-%d-%d", g, rng.IntN(opsPerWorker))
					receipts.LoadOrStore(receipt, m)
					mi, _ := receipts.Load(receipt)
					_, err = w.earn(codes[mi.(int)], receipt, int64(100+rng.IntN(50)*100)*int64(1+len(receipt)%2))
				case k < 6:
					_, err = w.svc.RedeemReward(ctx, member(ids[m]), loyalty.RedeemRewardInput{RewardID: rewards[rng.IntN(2)], IdempotencyKey: fmt.Sprint(g, "-", rng.IntN(50))})
				case k < 8:
					var amount *int64
					if rng.IntN(2) == 0 {
						amount = ptr(int64(1 + rng.IntN(3000)))
					}
					_, err = w.svc.RefundOrder(ctx, w.manager, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: fmt.Sprintf("R-%d-%d", rng.IntN(workers), rng.IntN(opsPerWorker)), Amount: amount})
				default:
					_, err = w.svc.AdjustPoints(ctx, lt.Admin, loyalty.AdjustPointsInput{MemberID: ids[m], Points: int64(rng.IntN(41)-20) | 1, Reason: "random", IdempotencyKey: fmt.Sprint(g, "-", op)})
				}
				var le *loyalty.Error
				if err != nil && !errors.As(err, &le) {
					t.Errorf("worker %d op %d: %v", g, op, err)
				}
			}
		}(g)
	}
	wg.Wait()
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions`); n < 500 {
		t.Fatalf("only %d ledger entries: the mix did too little to prove anything", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE kind = 'refund'`); n == 0 {
		t.Fatal("no refund happened in the mix")
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE reward_id = $1`, rewards[1]); n > 40 {
		t.Fatalf("reward with stock 40 issued %d coupons", n)
	}
	// CheckInvariants runs at cleanup (newWorld).
}

func TestConcurrentEarnsOfOneMemberQRTokenOnManyReceiptsCreditOne(t *testing.T) {
	w := newQRWorld(t)
	id, _ := lt.Member(t, w.db)
	card := must[loyalty.MemberCardOutput](t)(w.svc.MemberCard(context.Background(), member(id), struct{}{}))
	ok, codes := parallel(t, 12, func(i int) error {
		_, err := w.svc.EarnPoints(context.Background(), w.crew, loyalty.EarnPointsInput{StoreID: w.store,
			ReceiptNo: fmt.Sprintf("QR-%d", i), Amount: 1000, MemberQRToken: &card.QRToken})
		return err
	})
	if ok != 1 || codes[loyalty.CodeQRInvalid] != 11 || len(codes) != 1 {
		t.Fatalf("ok %d refusals %v; want one receipt credited and 11 qr_invalid (the token serves one receipt)", ok, codes)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE kind = 'earn'`); n != 1 {
		t.Fatalf("%d earn entries, want 1", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM member_qr_uses`); n != 1 {
		t.Fatalf("%d uses of the token recorded, want 1", n)
	}
	lt.CheckInvariants(t, w.db)
}

func TestConcurrentRedeemsFromOneMemberKeepThePerMemberLimitAndTheStock(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	lt.Give(t, w.svc, id, 10000)
	limit, stock := 3, 40
	limited := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, PerMemberLimit: &limit})
	stocked := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, Stock: &stock})
	// Half the calls race for the limited reward, half for the stocked one, all on one member.
	ok, codes := parallel(t, 60, func(i int) error {
		reward := limited
		if i%2 == 1 {
			reward = stocked
		}
		_, err := w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: fmt.Sprint("k", i)})
		return err
	})
	if ok != 3+30 || codes[loyalty.CodeLimitReached] != 27 || len(codes) != 1 {
		t.Fatalf("%d redeemed, refusals %v; want 33 (3 of the limited reward, 30 of the stocked) and 27 limit_reached", ok, codes)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE reward_id = $1`, limited); n != 3 {
		t.Fatalf("%d coupons of the limited reward, want 3", n)
	}
	if n := lt.Count(t, w.db, `SELECT stock FROM rewards WHERE id = $1`, stocked); n != 10 {
		t.Fatalf("stock left %d, want 10", n)
	}
	if b := lt.Balance(t, w.db, id); b != 10000-33*10 {
		t.Fatalf("balance %d, want %d", b, 10000-33*10)
	}
	lt.CheckInvariants(t, w.db)
}
