package routes_test

// Campaigns, referrals and expiry reminders through HTTP, event and cron payloads as Hasura
// sends them, on a real PostgreSQL.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// tuesday is 12:00 on Tuesday 2 June 2026 in Tokyo, the programme's time zone.
var tuesday = time.Date(2026, 6, 2, 3, 0, 0, 0, time.UTC)

// campaign inserts a campaign running through June 2026 and returns its id; sql sets the rest.
func (w *triggerWorld) campaign(kind string, set string, args ...any) string {
	w.t.Helper()
	var id string
	err := w.db.QueryRow(context.Background(), `
		INSERT INTO campaigns (name, kind, multiplier_pct, bonus_points, starts_at, ends_at)
		VALUES ('test campaign', $1, CASE WHEN $1 = 'multiplier' THEN 200 END, CASE WHEN $1 = 'bonus' THEN 50 END,
		        '2026-06-01 00:00+09', '2026-07-01 00:00+09')
		RETURNING id`, kind).Scan(&id)
	if err != nil {
		w.t.Fatal(err)
	}
	if set != "" {
		lt.Exec(w.t, w.db, `UPDATE campaigns SET `+set+` WHERE id = $1`, append([]any{id}, args...)...)
	}
	return id
}

func TestCampaignsApplyAtEarnTimeAndARefundReversesThemInProportion(t *testing.T) {
	w := newTriggerWorld(t)
	w.now = tuesday
	other := lt.Store(t, w.db)
	double := w.campaign("multiplier", "days_of_week = '{2}'")
	opening := w.campaign("bonus", "store_id = $2, min_amount = 1000", w.store)
	w.campaign("multiplier", "multiplier_pct = 150")                    // lower: does not stack
	w.campaign("multiplier", "multiplier_pct = 500, active = false")    // switched off
	w.campaign("bonus", "store_id = $2", other)                         // another store's
	w.campaign("multiplier", "multiplier_pct = 400, min_tier_rank = 2") // gold only
	w.campaign("bonus", "days_of_week = '{3}'")                         // Wednesdays
	id, code := w.member()
	lt.Exec(t, w.db, `UPDATE members SET tier_id = 'silver' WHERE id = $1`, id)

	// Silver (x1.25), 2,500 on a double-points Tuesday at a store in its opening week:
	// floor(25 * 125 * 200 / 10000) + 50 = 112.
	out := w.earnHTTP(code, "R-1", 2500)
	want := []string{double, opening}
	slices.Sort(want)
	if out.PointsEarned != 112 || !slices.Equal(out.CampaignIDs, want) {
		t.Fatalf("earn = %+v; want 112 points from campaigns %v", out, want)
	}
	if again := w.earnHTTP(code, "R-1", 2500); !again.Duplicate || again.PointsEarned != 112 || !slices.Equal(again.CampaignIDs, want) {
		t.Fatalf("repeat = %+v; want the first result with the same campaigns", again)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1 AND kind = 'earn'`, id); n != 1 {
		t.Fatalf("%d earn entries, want one for the order and its campaigns", n)
	}
	// Half refunded: half of the 112 comes back, bonus included.
	half := int64(1250)
	if r := w.refundHTTP("R-1", &half); r.PointsReversed != 56 || *r.PointsBalance != 56 {
		t.Fatalf("half refund = %+v; want 56 reversed", r)
	}
	// An order with no campaign answers an empty list, not null.
	w.now = tuesday.AddDate(0, 1, 0)
	rec := hasuratest.Do(t, w.mux, hasuratest.ActionRequest(t, "earnPoints", map[string]any{"input": in{"storeId": w.store, "receiptNo": "R-2", "amount": 1000, "memberCode": code}}, staff(w.crew.UserID)))
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil || string(raw["campaignIds"]) != "[]" {
		t.Fatalf("campaignIds of an order without campaigns: %s", rec.Body)
	}
}

func TestAReceiptCreditedByOrderPaidAndEarnPointsGetsItsCampaignsOnce(t *testing.T) {
	w := newTriggerWorld(t)
	w.now = tuesday.Add(time.Hour)
	double := w.campaign("multiplier", "days_of_week = '{2}'")
	id, code := w.member()
	// The POS wrote the order on Tuesday; the event is delivered on Wednesday.
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount, paid_at) VALUES ($1, 'POS-1', $2, 3000, $3)`, w.store, id, tuesday)
	w.now = tuesday.Add(24 * time.Hour)
	if got := w.deliverAtLeastOnce(w.one("order_paid")); got.Points != 60 {
		t.Fatalf("order_paid = %+v; want 60 (double points on the day it was paid)", got)
	}
	out := w.earnHTTP(code, "POS-1", 3000)
	if !out.Duplicate || out.PointsEarned != 60 || !slices.Equal(out.CampaignIDs, []string{double}) {
		t.Fatalf("earnPoints after order_paid = %+v; want the duplicate of 60 with the campaign", out)
	}
	if b := lt.Balance(t, w.db, id); b != 60 {
		t.Fatalf("balance %d, want 60", b)
	}
}

func (w *triggerWorld) referralCode(id string) string {
	w.t.Helper()
	var code string
	if err := w.db.QueryRow(context.Background(), `SELECT referral_code FROM members WHERE id = $1`, id).Scan(&code); err != nil {
		w.t.Fatal(err)
	}
	return code
}

// register signs up a new member through registerMember with a referral code.
func (w *triggerWorld) register(referralCode string) (id, code string) {
	w.t.Helper()
	id = hasuratest.NewUUID()
	out := act[loyalty.RegisterMemberOutput](w, "registerMember", in{"displayName": "Invited", "referralCode": referralCode}, member(id))
	if !out.Created {
		w.t.Fatalf("registerMember = %+v", out)
	}
	return id, out.MemberCode
}

func TestAReferralIsPaidOnceOnTheFirstQualifyingOrderWhateverTheDeliveries(t *testing.T) {
	w := newTriggerWorld(t)
	// Seeds: 300 to the referrer, 200 to the new member, first order of 1,000 or more.
	referrer, _ := w.member()
	referee, code := w.register(w.referralCode(referrer))
	if n := lt.Count(t, w.db, `SELECT count(*) FROM members WHERE id = $1 AND referred_by = $2`, referee, referrer); n != 1 {
		t.Fatal("the new member is not recorded as referred")
	}
	w.earnHTTP(code, "SMALL", 999) // below referral_min_amount: not yet
	if b := lt.Balance(t, w.db, referrer); b != 0 {
		t.Fatalf("referrer paid %d for an order below the minimum", b)
	}
	// The first qualifying order comes from a POS; Hasura delivers it 10 times at once while
	// the counter scans the same receipt again and again.
	hasuratest.TakeEvents(t, w.db, "order_paid") // SMALL's, credited already
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount) VALUES ($1, 'BIG', $2, 5000)`, w.store, referee)
	d := w.one("order_paid")
	// Ten deliveries of order_paid and three earnPoints of the same receipt, all at once;
	// requests are built and answers checked on the test's goroutine.
	var reqs []*http.Request
	for i := 0; i < 10; i++ {
		reqs = append(reqs, d.Request(t))
	}
	for i := 0; i < 3; i++ {
		reqs = append(reqs, hasuratest.ActionRequest(t, "earnPoints", map[string]any{"input": in{"storeId": w.store, "receiptNo": "BIG", "amount": 5000, "memberCode": code}}, staff(w.crew.UserID)))
	}
	recs := make([]*httptest.ResponseRecorder, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, req := range reqs {
		recs[i] = httptest.NewRecorder()
		wg.Go(func() { <-start; w.mux.ServeHTTP(recs[i], req) })
	}
	close(start)
	wg.Wait()
	for _, rec := range recs[:10] {
		w.ok(rec)
	}
	for _, rec := range recs[10:] {
		if out := hasuratest.DecodeOutput[loyalty.EarnPointsOutput](t, rec); out.PointsEarned != 50 {
			t.Fatalf("a concurrent earnPoints of BIG = %+v; want its 50 points", out)
		}
	}
	w.earnHTTP(code, "LATER", 5000) // a second qualifying order pays nothing more
	if b := lt.Balance(t, w.db, referrer); b != 300 {
		t.Errorf("referrer balance %d, want 300 once", b)
	}
	if b := lt.Balance(t, w.db, referee); b != 9+50+50+200 {
		t.Errorf("referee balance %d, want 9 + 50 + 50 earned and 200 once", b)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE kind = 'bonus' AND reason = 'referral'`); n != 2 {
		t.Errorf("%d referral bonus entries, want 2", n)
	}
	// Refunds do not take the bonuses back.
	w.refundHTTP("BIG", nil)
	if b := lt.Balance(t, w.db, referrer); b != 300 {
		t.Errorf("referrer balance %d after the refund, want 300", b)
	}
}

func TestAReferrerIsPaidUpToTheYearlyLimitAndTheRefereeStillGetsTheirs(t *testing.T) {
	w := newTriggerWorld(t)
	lt.Exec(t, w.db, `UPDATE program_settings SET referral_yearly_limit = 2`)
	referrer, _ := w.member()
	var referees []string
	for i, receipt := range []string{"A", "B", "C"} {
		id, code := w.register(w.referralCode(referrer))
		referees = append(referees, id)
		w.now = w.now.Add(time.Duration(i) * time.Hour)
		w.earnHTTP(code, receipt, 1000)
	}
	if b := lt.Balance(t, w.db, referrer); b != 600 {
		t.Fatalf("referrer balance %d, want 600 (2 referrals a year)", b)
	}
	for _, id := range referees {
		if b := lt.Balance(t, w.db, id); b != 210 {
			t.Errorf("referee %s has %d, want 10 earned + 200", id, b)
		}
	}
	// A new calendar year in Tokyo starts the count again.
	w.now = time.Date(2026, 12, 31, 15, 0, 0, 0, time.UTC) // 00:00 on 1 January 2027 in Tokyo
	_, code := w.register(w.referralCode(referrer))
	w.earnHTTP(code, "D", 1000)
	if b := lt.Balance(t, w.db, referrer); b != 900 {
		t.Fatalf("referrer balance %d in the new year, want 900", b)
	}
}

func TestReferralCodesThatRegisterNothing(t *testing.T) {
	w := newTriggerWorld(t)
	gone, _ := w.member()
	goneCode := w.referralCode(gone)
	lt.Exec(t, w.db, `UPDATE members SET deleted_at = now() WHERE id = $1`, gone)
	for name, code := range map[string]string{
		"an unknown code":         "ZZZZZZZZ",
		"a malformed code":        "<b>hi</b>",
		"a deleted member's code": goneCode,
	} {
		t.Run(name, func(t *testing.T) {
			before := lt.Count(t, w.db, `SELECT count(*) FROM members`)
			w.refuse("registerMember", in{"displayName": "Invited", "referralCode": code}, member(hasuratest.NewUUID()), loyalty.CodeReferralInvalid)
			if after := lt.Count(t, w.db, `SELECT count(*) FROM members`); after != before {
				t.Fatal("a refused registration registered a member")
			}
		})
	}
	t.Run("a registered member calling again is answered and the code ignored, even their own", func(t *testing.T) {
		id, _ := w.register("")
		out := act[loyalty.RegisterMemberOutput](w, "registerMember", in{"displayName": "Again", "referralCode": w.referralCode(id)}, member(id))
		if out.Created || out.MemberID != id {
			t.Fatalf("repeat = %+v", out)
		}
		if n := lt.Count(t, w.db, `SELECT count(*) FROM members WHERE id = $1 AND referred_by IS NULL`, id); n != 1 {
			t.Fatal("a repeat call changed referred_by")
		}
	})
	t.Run("a code is read as a cashier types it", func(t *testing.T) {
		referrer, _ := w.member()
		code := w.referralCode(referrer)
		id, _ := w.register(" " + code[:4] + "-" + string(code[4:]) + " ")
		if n := lt.Count(t, w.db, `SELECT count(*) FROM members WHERE id = $1 AND referred_by = $2`, id, referrer); n != 1 {
			t.Fatal("a spaced, dashed code was not recognised")
		}
	})
}

func TestExpiryRemindersAreWrittenOncePerMemberAndCoupon(t *testing.T) {
	w := newTriggerWorld(t)
	id, _ := w.member()
	quiet, _ := w.member()
	// 30 points expire within the 14 days (in 5), 40 later.
	lt.Give(t, w.svc, id, 30)
	lt.Exec(t, w.db, `UPDATE point_lots SET expires_at = $2::timestamptz + interval '5 days' WHERE member_id = $1`, id, w.now)
	lt.Give(t, w.svc, id, 40) // valid a year: outside the window
	lt.Give(t, w.svc, quiet, 50)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, ValidDays: 2})
	coupon := act[loyalty.RedeemRewardOutput](w, "redeemReward", in{"rewardId": reward, "idempotencyKey": hasuratest.NewUUID()}, member(quiet))

	first := w.deliverAtLeastOnce(hasuratest.Cron(t, "expiry_reminders", w.now, map[string]int{"batch_size": 1}))
	if first.Members != 1 || first.Coupons != 1 {
		t.Fatalf("first run %+v; want 1 member and 1 coupon reminded", first)
	}
	// The same day's run replayed under another id, and the next day's: nothing new, the
	// earliest expiry being the same date.
	w.deliver(hasuratest.Cron(t, "expiry_reminders", w.now, nil))
	w.deliver(hasuratest.Cron(t, "expiry_reminders", w.now.Add(24*time.Hour), nil))
	var data map[string]any
	var raw []byte
	if err := w.db.QueryRow(context.Background(), `SELECT data FROM notifications WHERE member_id = $1 AND kind = 'points_expiring'`, id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &data); err != nil || data["points"] != float64(30) || data["expiresOn"] != w.now.AddDate(0, 0, 5).In(tokyo).Format(time.DateOnly) {
		t.Fatalf("points_expiring data %s; want 30 points on %s", raw, w.now.AddDate(0, 0, 5).In(tokyo).Format(time.DateOnly))
	}
	if err := w.db.QueryRow(context.Background(), `SELECT data FROM notifications WHERE member_id = $1 AND kind = 'coupon_expiring'`, quiet).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &data); err != nil || data["couponId"] != coupon.CouponID || data["couponCode"] != coupon.CouponCode {
		t.Fatalf("coupon_expiring data %s; want coupon %s", raw, coupon.CouponID)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM notifications WHERE kind IN ('points_expiring', 'coupon_expiring')`); n != 2 {
		t.Fatalf("%d reminders, want 2", n)
	}
	// Reminders off: nothing for points.
	lt.Exec(t, w.db, `UPDATE program_settings SET expiry_reminder_days = 0`)
	lt.Exec(t, w.db, `DELETE FROM notifications`)
	if out := w.deliver(hasuratest.Cron(t, "expiry_reminders", w.now, nil)); out.Members != 0 || out.Coupons != 1 {
		t.Fatalf("with expiry_reminder_days 0: %+v; want coupons only", out)
	}
}

// sortedIDs is ids in order, as campaignIds lists them.
func sortedIDs(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// A POS wrote a paid order during a campaign; the campaign ended before the counter credited
// the receipt. earnPoints looks the campaigns up at the order's paid_at, as order_paid does:
// the campaign applies, and both paths credit such an order the same.
func TestEarnPointsOfAnOrderPaidDuringACampaignThatHasEndedSinceGetsTheCampaign(t *testing.T) {
	w := newTriggerWorld(t)
	double := w.campaign("multiplier", "")
	bonus := w.campaign("bonus", "")
	id, code := w.member()
	other, _ := w.member()
	hasuratest.TakeEvents(t, w.db, "member_welcome")
	// 23:00 on 30 June in Tokyo, an hour before both campaigns end.
	paid := time.Date(2026, 6, 30, 14, 0, 0, 0, time.UTC)
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount, paid_at) VALUES ($1, 'POS-A', $2, 3000, $3)`, w.store, id, paid)
	hasuratest.TakeEvents(t, w.db, "order_paid") // the counter gets there first
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount, paid_at) VALUES ($1, 'POS-B', $2, 3000, $3)`, w.store, other, paid)
	w.now = paid.Add(2 * time.Hour) // 01:00 on 1 July in Tokyo: both have ended
	// floor(30 * 100 * 200 / 10000) + 50 = 110.
	out := w.earnHTTP(code, "POS-A", 3000)
	if out.Duplicate || out.PointsEarned != 110 || !slices.Equal(out.CampaignIDs, sortedIDs(double, bonus)) {
		t.Fatalf("earnPoints = %+v; want 110 points from the campaigns of the day it was paid %v", out, sortedIDs(double, bonus))
	}
	if got := w.deliverAtLeastOnce(w.one("order_paid")); got.Points != 110 {
		t.Fatalf("order_paid of the same kind of order = %+v; want the same 110", got)
	}
	if a, b := lt.Balance(t, w.db, id), lt.Balance(t, w.db, other); a != 110 || b != 110 {
		t.Fatalf("balances %d (earnPoints) and %d (order_paid); want 110 each", a, b)
	}
	// A new receipt now earns without them.
	if now := w.earnHTTP(code, "NEW", 3000); now.PointsEarned != 30 || len(now.CampaignIDs) != 0 {
		t.Fatalf("a receipt after the campaigns = %+v; want 30 and no campaign", now)
	}
}

// min_tier_rank reads the member's tier before the order: the order that lifts a member into
// the tier a campaign needs does not get the campaign; the next order does.
func TestAnOrderThatLiftsTheMemberIntoACampaignsTierDoesNotGetIt(t *testing.T) {
	w := newTriggerWorld(t)
	w.now = tuesday
	silverOnly := w.campaign("multiplier", "min_tier_rank = 1") // x2 from silver (rank 1, 1,000 points)
	_, code := w.member()
	if out := w.earnHTTP(code, "R-1", 95_000); out.PointsEarned != 950 || out.TierID != "member" {
		t.Fatalf("first order = %+v; want 950 points, still member", out)
	}
	// 950 + 100 reaches silver: the order is earned at the member tier's x1, without the campaign.
	out := w.earnHTTP(code, "R-2", 10_000)
	if out.PointsEarned != 100 || len(out.CampaignIDs) != 0 || out.TierID != "silver" {
		t.Fatalf("the lifting order = %+v; want 100 points, no campaign, now silver", out)
	}
	// Silver now: floor(100 * 125 * 200 / 10000) = 250.
	if next := w.earnHTTP(code, "R-3", 10_000); next.PointsEarned != 250 || !slices.Equal(next.CampaignIDs, []string{silverOnly}) {
		t.Fatalf("the next order = %+v; want 250 with the campaign", next)
	}
	// The same on the POS path: another member lifted to silver by an order order_paid credits.
	other, _ := w.member()
	hasuratest.TakeEvents(t, w.db, "order_paid")
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount, paid_at) VALUES ($1, 'POS-1', $2, 100000, $3)`, w.store, other, w.now)
	if got := w.deliverAtLeastOnce(w.one("order_paid")); got.Points != 1000 {
		t.Fatalf("order_paid of the lifting order = %+v; want 1,000 without the campaign", got)
	}
	if tier := w.tier(other); tier != "silver" {
		t.Fatalf("tier after the order %s, want silver", tier)
	}
}

// The window is [starts_at, ends_at): an order at the very instant it starts is in it, one at
// the instant it ends is not, on either path.
func TestACampaignWindowHoldsItsStartAndNotItsEnd(t *testing.T) {
	w := newTriggerWorld(t)
	start := time.Date(2026, 6, 10, 1, 0, 0, 0, time.UTC)
	end := start.Add(48 * time.Hour)
	window := w.campaign("bonus", "starts_at = $2, ends_at = $3", start, end)
	_, code := w.member()
	for _, tc := range []struct {
		name  string
		at    time.Time
		match bool
	}{
		{"a microsecond before it starts", start.Add(-time.Microsecond), false},
		{"the instant it starts", start, true},
		{"a microsecond before it ends", end.Add(-time.Microsecond), true},
		{"the instant it ends", end, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.now = tc.at
			want, ids := int64(10), []string{}
			if tc.match {
				want, ids = 60, []string{window}
			}
			out := w.earnHTTP(code, "E-"+tc.at.Format(time.RFC3339Nano), 1000)
			if out.PointsEarned != want || !slices.Equal(out.CampaignIDs, ids) {
				t.Errorf("earnPoints at %s = %+v; want %d points, campaigns %v", tc.at, out, want, ids)
			}
			// A POS order paid at the same instant, credited by order_paid a day later.
			other, _ := w.member()
			hasuratest.TakeEvents(t, w.db, "order_paid")
			lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount, paid_at) VALUES ($1, $2, $3, 1000, $4)`,
				w.store, "P-"+tc.at.Format(time.RFC3339Nano), other, tc.at)
			w.now = tc.at.Add(24 * time.Hour)
			if got := w.deliver(w.one("order_paid")); got.Points != want {
				t.Errorf("order_paid of an order paid at %s = %+v; want %d points", tc.at, got, want)
			}
		})
	}
}

func TestACampaignsMinimumAmountIsInclusive(t *testing.T) {
	w := newTriggerWorld(t)
	w.now = tuesday
	big := w.campaign("bonus", "min_amount = 2000")
	_, code := w.member()
	if out := w.earnHTTP(code, "BELOW", 1999); out.PointsEarned != 19 || len(out.CampaignIDs) != 0 {
		t.Fatalf("1,999 against a minimum of 2,000 = %+v; want 19 and no campaign", out)
	}
	if out := w.earnHTTP(code, "AT", 2000); out.PointsEarned != 70 || !slices.Equal(out.CampaignIDs, []string{big}) {
		t.Fatalf("2,000 against a minimum of 2,000 = %+v; want 20 + 50 with the campaign", out)
	}
}

// Bonuses add up; of the multipliers, only the highest applies.
func TestBonusCampaignsAddUpAndOnlyTheHighestMultiplierApplies(t *testing.T) {
	w := newTriggerWorld(t)
	w.now = tuesday
	b50 := w.campaign("bonus", "")
	b30 := w.campaign("bonus", "bonus_points = 30")
	w.campaign("multiplier", "") // 200: lower
	x3 := w.campaign("multiplier", "multiplier_pct = 300")
	_, code := w.member()
	// floor(40 * 100 * 300 / 10000) + 50 + 30 = 200.
	out := w.earnHTTP(code, "R-1", 4000)
	if want := sortedIDs(b50, b30, x3); out.PointsEarned != 200 || !slices.Equal(out.CampaignIDs, want) {
		t.Fatalf("earn = %+v; want 200 points from %v", out, want)
	}
}

// Once the lot a member was reminded of is spent, a later lot is the earliest to expire: its
// date is a new earliest date, and the member is reminded of it once.
func TestANewEarliestExpiryDateGivesANewReminder(t *testing.T) {
	w := newTriggerWorld(t)
	id, _ := w.member()
	lt.Give(t, w.svc, id, 30)
	lt.Exec(t, w.db, `UPDATE point_lots SET expires_at = $2::timestamptz + interval '5 days' WHERE member_id = $1`, id, w.now)
	lt.Give(t, w.svc, id, 40)
	lt.Exec(t, w.db, `UPDATE point_lots SET expires_at = $2::timestamptz + interval '10 days' WHERE member_id = $1 AND points = 40`, id, w.now)
	day := func(n int) string { return w.now.AddDate(0, 0, n).In(tokyo).Format(time.DateOnly) }
	reminders := func() map[string]int64 {
		rows, err := w.db.Query(context.Background(), `SELECT data->>'expiresOn', (data->>'points')::bigint FROM notifications
			WHERE member_id = $1 AND kind = 'points_expiring'`, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]int64{}
		for rows.Next() {
			var on string
			var points int64
			if err := rows.Scan(&on, &points); err != nil {
				t.Fatal(err)
			}
			got[on] = points
		}
		return got
	}
	if out := w.deliver(hasuratest.Cron(t, "expiry_reminders", w.now, nil)); out.Members != 1 {
		t.Fatalf("first run %+v; want the member reminded", out)
	}
	if got := reminders(); len(got) != 1 || got[day(5)] != 70 {
		t.Fatalf("reminders %v; want 70 points from %s", got, day(5))
	}
	// The 30 points expiring first are spent (spending takes the lots that expire first).
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 30})
	act[loyalty.RedeemRewardOutput](w, "redeemReward", in{"rewardId": reward, "idempotencyKey": hasuratest.NewUUID()}, member(id))
	next := w.now.Add(24 * time.Hour)
	if out := w.deliver(hasuratest.Cron(t, "expiry_reminders", next, nil)); out.Members != 1 {
		t.Fatalf("the next day's run %+v; want a reminder of the new earliest date", out)
	}
	if out := w.deliver(hasuratest.Cron(t, "expiry_reminders", next.Add(24*time.Hour), nil)); out.Members != 0 {
		t.Fatalf("the day after %+v; want nothing new", out)
	}
	if got := reminders(); len(got) != 2 || got[day(5)] != 70 || got[day(10)] != 40 {
		t.Fatalf("reminders %v; want 70 points from %s, then 40 from %s", got, day(5), day(10))
	}
}

// A reminders run larger than one delivery's budget is finished by Hasura's retries, a batch at
// a time, each member and coupon reminded once.
func TestExpiryRemindersInterruptedByTheirBudgetFinishOnRetries(t *testing.T) {
	w := newTriggerWorld(t)
	seedLots(t, w.db, 30, 2, 1, w.now.AddDate(-1, 0, 0), w.now.AddDate(0, 0, 5)) // 10 points in the window each
	id, _ := w.member()
	lt.Give(t, w.svc, id, 100)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, ValidDays: 2})
	for range 5 {
		act[loyalty.RedeemRewardOutput](w, "redeemReward", in{"rewardId": reward, "idempotencyKey": hasuratest.NewUUID()}, member(id))
	}
	run := loyalty.CronRun{Delivery: loyalty.Delivery{Trigger: "expiry_reminders", ID: "reminders-1"}, ScheduledTime: w.now, BatchSize: 4, Budget: time.Nanosecond}
	var out loyalty.Outcome
	deliveries := 0
	for {
		deliveries++
		if deliveries > 20 {
			t.Fatal("the run did not finish in 20 deliveries")
		}
		var err error
		out, err = w.svc.ExpiryReminders(context.Background(), run)
		var more *loyalty.ErrMoreWork
		if errors.As(err, &more) {
			if more.Done.Batches != deliveries {
				t.Fatalf("delivery %d stopped after %d batches in all; want one batch a delivery", deliveries, more.Done.Batches)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	// 30 members in batches of 4 (the eighth finds 2), then the 5 coupons in 2 batches.
	if out.Members != 30 || out.Coupons != 5 || out.Batches != 10 || deliveries != 10 {
		t.Fatalf("outcome %+v after %d deliveries; want 30 members and 5 coupons in 10 batches and deliveries", out, deliveries)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM notifications WHERE kind = 'points_expiring'`); n != 30 {
		t.Fatalf("%d points_expiring notifications, want 30", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM notifications WHERE kind = 'coupon_expiring'`); n != 5 {
		t.Fatalf("%d coupon_expiring notifications, want 5", n)
	}
	if again, err := w.svc.ExpiryReminders(context.Background(), run); err != nil || !again.Duplicate {
		t.Fatalf("a delivery after the run completed: %+v, %v; want a duplicate", again, err)
	}
}
