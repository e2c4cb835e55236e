package routes_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
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

// seedLots gives each of members new members lotsEach lots of 10 points earned at earned;
// the first dueEach of them expire at due, the rest a year later. Ledger, lots and balances
// are consistent, as the functions would have left them.
func seedLots(t testing.TB, db *pgxpool.Pool, members, lotsEach, dueEach int, earned, due time.Time) {
	t.Helper()
	lt.Exec(t, db, `
		INSERT INTO members (id, member_code, display_name, points_balance, created_at)
		SELECT gen_random_uuid(), lpad(i::text, 10, '0'), 'member ' || i, 10 * $2, $3
		FROM generate_series(1, $1::int) i`, members, lotsEach, earned)
	lt.Exec(t, db, `
		WITH t AS (
			INSERT INTO point_transactions (member_id, kind, points, balance_after, reason, idempotency_key, created_at)
			SELECT m.id, 'adjust', 10, 10 * k, 'seed', 'seed:' || m.id || ':' || k, $2
			FROM members m CROSS JOIN generate_series(1, $1::int) k
			ORDER BY m.id, k
			RETURNING id, member_id, balance_after)
		INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
		SELECT member_id, id, 10, 10, $2, CASE WHEN balance_after <= 10 * $3 THEN $4 ELSE $4::timestamptz + interval '365 days' END
		FROM t`, lotsEach, earned, dueEach, due)
}

func TestExpirePointsOverManyLotsRunsInBoundedBatches(t *testing.T) {
	w := newTriggerWorld(t)
	earned := w.now.AddDate(-1, 0, 0)
	seedLots(t, w.db, 10_000, 10, 7, earned, w.now.Add(-time.Hour)) // 100,000 lots, 70,000 due
	d := hasuratest.Cron(t, "expire_points", w.now, map[string]int{"batch_size": 1000})
	out := w.deliverAtLeastOnce(d)
	if out.Members != 10_000 || out.Points != -700_000 || out.Batches < 10 {
		t.Fatalf("outcome %+v; want 10,000 members, 700,000 points, at least 10 batches of 1,000", out)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE kind = 'expire'`); n != 10_000 {
		t.Fatalf("%d expire entries, want one per member", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_lots WHERE remaining > 0 AND expires_at <= $1`, w.now); n != 0 {
		t.Fatalf("%d due lots left", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_lots WHERE remaining = 10 AND expires_at > $1`, w.now); n != 30_000 {
		t.Fatalf("%d lots not due left whole, want 30,000", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_lots`); n != 30_000 {
		t.Fatalf("%d lots in all, want the 30,000 not due: the expired ones are deleted", n)
	}
	if n := lt.Count(t, w.db, `SELECT sum(points_balance) FROM members`); n != 300_000 {
		t.Fatalf("balances sum to %d, want 300,000", n)
	}
}

func TestAnInterruptedExpiryRunFinishesOnRetryWithoutDoingAnythingTwice(t *testing.T) {
	w := newTriggerWorld(t)
	seedLots(t, w.db, 500, 3, 2, w.now.AddDate(-1, 0, 0), w.now.Add(-time.Minute))
	run := loyalty.CronRun{Delivery: loyalty.Delivery{Trigger: "expire_points", ID: "run-1"}, ScheduledTime: w.now, BatchSize: 100, Budget: time.Nanosecond}
	_, err := w.svc.ExpirePoints(context.Background(), run)
	var more *loyalty.ErrMoreWork
	if !errors.As(err, &more) || more.Done.Members != 100 {
		t.Fatalf("first attempt: %v; want to stop after one batch of 100", err)
	}
	// Hasura's retry of the same delivery, with time to finish.
	run.Budget = time.Minute
	out, err := w.svc.ExpirePoints(context.Background(), run)
	if err != nil || out.Members != 500 {
		t.Fatalf("retry: %+v, %v; want the run's 500 members, 400 of them on the retry", out, err)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM cron_progress`); n != 0 {
		t.Fatalf("%d cron_progress rows left after the run completed", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE kind = 'expire'`); n != 500 {
		t.Fatalf("%d expire entries, want 500", n)
	}
	if again, err := w.svc.ExpirePoints(context.Background(), run); err != nil || !again.Duplicate {
		t.Fatalf("a third delivery: %+v, %v; want a duplicate", again, err)
	}
}

// cronState is what a cron job leaves behind, to compare runs.
func cronState(t testing.TB, db *pgxpool.Pool) [5]int64 {
	return [5]int64{
		lt.Count(t, db, `SELECT count(*) FROM point_transactions`),
		lt.Count(t, db, `SELECT coalesce(sum(points_balance), 0) FROM members`),
		lt.Count(t, db, `SELECT count(*) FROM coupons WHERE status = 'expired'`),
		lt.Count(t, db, `SELECT count(*) FROM members WHERE tier_id <> 'member'`),
		lt.Count(t, db, `SELECT count(*) FROM notifications`),
	}
}

func TestEveryCronJobReplayedOrRacingLeavesTheStateOfOneRun(t *testing.T) {
	for _, job := range []string{"expire_points", "expire_coupons", "birthday_bonus", "tier_review", "expiry_reminders"} {
		t.Run(job, func(t *testing.T) {
			w := newTriggerWorld(t)
			seedCronWork(t, w)
			before := cronState(t, w.db)
			// One run, then the same run replayed (same scheduled_time, new delivery id), then
			// two more racing: nothing changes after the first.
			w.deliver(hasuratest.Cron(t, job, w.now, map[string]int{"batch_size": 7}))
			want := cronState(t, w.db)
			if want == before {
				t.Fatalf("the first run changed nothing (%v): the test proves nothing", want)
			}
			w.deliver(hasuratest.Cron(t, job, w.now, map[string]int{"batch_size": 7}))
			// Built and checked on the test's goroutine; only the serving races.
			reqs := []*http.Request{
				hasuratest.Cron(t, job, w.now, map[string]int{"batch_size": 3}).Request(t),
				hasuratest.Cron(t, job, w.now, map[string]int{"batch_size": 3}).Request(t),
			}
			recs := []*httptest.ResponseRecorder{httptest.NewRecorder(), httptest.NewRecorder()}
			var wg sync.WaitGroup
			for i := range reqs {
				wg.Go(func() { w.mux.ServeHTTP(recs[i], reqs[i]) })
			}
			wg.Wait()
			for _, rec := range recs {
				w.ok(rec)
			}
			if got := cronState(t, w.db); got != want {
				t.Fatalf("state after replays %v, after one run %v", got, want)
			}
		})
	}
}

// seedCronWork gives every cron job something to do at w.now.
func seedCronWork(t *testing.T, w *triggerWorld) {
	t.Helper()
	seedLots(t, w.db, 20, 2, 1, w.now.AddDate(-1, 0, 0), w.now.Add(-time.Minute))
	// Points of 10 of those members expiring within the reminders' window.
	lt.Exec(t, w.db, `UPDATE point_lots SET expires_at = $1::timestamptz + interval '5 days'
		WHERE expires_at > $1 AND member_id IN (SELECT id FROM members ORDER BY id LIMIT 10)`, w.now)
	// Coupons past expiry.
	id, _ := w.member()
	lt.Give(t, w.svc, id, 1000)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, ValidDays: 1})
	for i := 0; i < 10; i++ {
		if _, err := w.svc.RedeemReward(context.Background(), loyalty.Caller{Role: loyalty.RoleMember, UserID: id},
			loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: hasuratest.NewUUID()}); err != nil {
			t.Fatal(err)
		}
	}
	lt.Exec(t, w.db, `UPDATE coupons SET issued_at = $1::timestamptz - interval '3 days', expires_at = $1::timestamptz - interval '1 day'`, w.now)
	// Birthdays today in the programme's time zone (Asia/Tokyo in the seeds).
	lt.Exec(t, w.db, `UPDATE members SET birthday = make_date(1990, $1, $2), created_at = $3::timestamptz - interval '2 years'
		WHERE id IN (SELECT id FROM members ORDER BY id LIMIT 15)`,
		int(w.now.In(tokyo).Month()), w.now.In(tokyo).Day(), w.now)
	// Gold members who earned nothing this year.
	lt.Exec(t, w.db, `UPDATE members SET tier_id = 'gold' WHERE id IN (SELECT id FROM members ORDER BY id DESC LIMIT 12)`)
}

var tokyo = mustLocation("Asia/Tokyo")

func mustLocation(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func TestBirthdayBonusPaysOnceAYearInTheProgrammesTimeZone(t *testing.T) {
	w := newTriggerWorld(t)
	// 15:30 UTC on 1 June is 00:30 on 2 June in Tokyo.
	w.now = time.Date(2026, 6, 1, 15, 30, 0, 0, time.UTC)
	birthday := func(month time.Month, day int) string {
		id, _ := w.member()
		lt.Exec(t, w.db, `UPDATE members SET birthday = make_date(1990, $2, $3), created_at = '2020-01-01' WHERE id = $1`, id, int(month), day)
		return id
	}
	today := birthday(time.June, 2)
	utcToday := birthday(time.June, 1) // yesterday in Tokyo: caught up by the look-back
	tomorrow := birthday(time.June, 3)
	morning := w.deliver(hasuratest.Cron(t, "birthday_bonus", w.now, nil))
	evening := w.deliver(hasuratest.Cron(t, "birthday_bonus", w.now.Add(12*time.Hour), nil)) // a second run the same day
	if morning.Members != 2 || evening.Members != 0 {
		t.Fatalf("runs paid %d then %d members; want 2 then 0", morning.Members, evening.Members)
	}
	for id, want := range map[string]int64{today: 200, utcToday: 200, tomorrow: 0} {
		if b := lt.Balance(t, w.db, id); b != want {
			t.Errorf("member %s: balance %d, want %d", id, b, want)
		}
	}
	// A missed day: the job did not run on 3 June; the run of 4 June pays the 3rd's birthday.
	w.deliver(hasuratest.Cron(t, "birthday_bonus", time.Date(2026, 6, 3, 15, 5, 0, 0, time.UTC), nil))
	if b := lt.Balance(t, w.db, tomorrow); b != 200 {
		t.Fatalf("missed day's birthday: balance %d, want 200", b)
	}
	// Next year pays again.
	w.deliver(hasuratest.Cron(t, "birthday_bonus", time.Date(2027, 6, 1, 15, 5, 0, 0, time.UTC), nil))
	if b := lt.Balance(t, w.db, today); b != 400 {
		t.Fatalf("next year: balance %d, want 400", b)
	}
}

func TestBirthdayOnTheLeapDayIsCelebratedOnThe28thInOtherYears(t *testing.T) {
	w := newTriggerWorld(t)
	id, _ := w.member()
	lt.Exec(t, w.db, `UPDATE members SET birthday = '2000-02-29', created_at = '2020-01-01' WHERE id = $1`, id)
	w.deliver(hasuratest.Cron(t, "birthday_bonus", time.Date(2027, 2, 27, 15, 5, 0, 0, time.UTC), nil)) // 28 Feb in Tokyo
	if b := lt.Balance(t, w.db, id); b != 200 {
		t.Fatalf("balance %d, want 200", b)
	}
}

func TestTierReviewMovesDownOnlyWhereTheYearNoLongerHoldsTheTier(t *testing.T) {
	w := newTriggerWorld(t)
	stays, code := w.member()
	w.earn(code, "R-1", 600_000) // 6000 points: gold, this year
	falls, _ := w.member()
	lt.Exec(t, w.db, `UPDATE members SET tier_id = 'gold' WHERE id = $1`, falls)
	lt.Give(t, w.svc, falls, 1500) // adjustments are not earnings
	out := w.deliver(hasuratest.Cron(t, "tier_review", w.now, nil))
	if out.Members != 1 {
		t.Fatalf("review moved %d members, want 1", out.Members)
	}
	tiers := map[string]string{}
	for _, id := range []string{stays, falls} {
		var tier string
		_ = w.db.QueryRow(context.Background(), `SELECT tier_id FROM members WHERE id = $1`, id).Scan(&tier)
		tiers[id] = tier
	}
	if tiers[stays] != "gold" || tiers[falls] != "member" {
		t.Fatalf("tiers after review: stays %s, falls %s", tiers[stays], tiers[falls])
	}
	// A year later the gold member's points no longer count.
	w.now = w.now.AddDate(1, 0, 1)
	w.deliver(hasuratest.Cron(t, "tier_review", w.now, nil))
	var tier string
	_ = w.db.QueryRow(context.Background(), `SELECT tier_id FROM members WHERE id = $1`, stays).Scan(&tier)
	if tier != "member" {
		t.Fatalf("a year later: %s, want member", tier)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM notifications WHERE kind = 'tier_down'`); n != 2 {
		t.Fatalf("%d tier_down notifications, want 2", n)
	}
}

func TestExpireCouponsMarksOnlyIssuedCouponsPastExpiry(t *testing.T) {
	w := newTriggerWorld(t)
	id, _ := w.member()
	lt.Give(t, w.svc, id, 100)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10, ValidDays: 1})
	var codes []string
	for i := 0; i < 3; i++ {
		c, err := w.svc.RedeemReward(context.Background(), loyalty.Caller{Role: loyalty.RoleMember, UserID: id}, loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: hasuratest.NewUUID()})
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, c.CouponCode)
	}
	if _, err := w.svc.UseCoupon(context.Background(), w.crew, loyalty.UseCouponInput{StoreID: w.store, CouponCode: codes[0]}); err != nil {
		t.Fatal(err)
	}
	out := w.deliverAtLeastOnce(hasuratest.Cron(t, "expire_coupons", w.now.Add(25*time.Hour), nil))
	if out.Coupons != 2 {
		t.Fatalf("expired %d coupons, want 2", out.Coupons)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE status = 'used'`); n != 1 {
		t.Fatal("a used coupon was expired")
	}
}

// BenchmarkExpirePoints times expire_points over 1,000,000 due lots of 100,000 members,
// through the handler, in its default batches. Run it with -benchtime=1x: seeding takes longer
// than the run.
func BenchmarkExpirePoints(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := pgtest.Pool(b)
		now := time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)
		seedLots(b, db, 100_000, 10, 10, now.AddDate(-1, 0, 0), now.Add(-time.Hour))
		mux := routes.Mux(routes.Table(&hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet}, loyalty.New(db)), server.Health(db, nil))
		req := hasuratest.CronRequest(b, "expire_points", now, map[string]int{"budget_seconds": 3600})
		b.StartTimer()
		rec := hasuratest.Do(b, mux, req)
		b.StopTimer()
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if n := lt.Count(b, db, `SELECT count(*) FROM point_lots WHERE remaining > 0`); n != 0 {
			b.Fatalf("%d lots left", n)
		}
		lt.CheckInvariants(b, db)
	}
}
