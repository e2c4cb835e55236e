package routes_test

// The nightly crons' set-based batches (expire_points, tier_review, expiry_reminders): what a
// batch of many members must still get right member by member.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// memberIDs are the ids of the members whose display name starts with "member " (seedLots'
// members), in id order.
func memberIDs(t *testing.T, db *pgxpool.Pool) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT id::text FROM members WHERE display_name LIKE 'member %' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// creditLot credits each of ids points in a lot earned at earned and expiring at expires:
// ledger, lot and balance consistent, as an adjustment would leave them.
func creditLot(t *testing.T, db *pgxpool.Pool, ids []string, points int64, earned, expires time.Time) {
	t.Helper()
	lt.Exec(t, db, `
		WITH t AS (
			INSERT INTO point_transactions (member_id, kind, points, balance_after, reason, idempotency_key, created_at)
			SELECT id, 'adjust', $2, points_balance + $2, 'late credit', 'late:' || id, $3
			FROM members WHERE id = ANY($1::uuid[]) ORDER BY id
			RETURNING id, member_id),
		l AS (
			INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
			SELECT member_id, id, $2, $2, $3, $4 FROM t)
		UPDATE members SET points_balance = points_balance + $2 WHERE id = ANY($1::uuid[])`, ids, points, earned, expires)
}

func expireRun(w *triggerWorld, id string, batch int, budget time.Duration) (loyalty.Outcome, error) {
	return w.svc.ExpirePoints(context.Background(), loyalty.CronRun{
		Delivery: loyalty.Delivery{Trigger: "expire_points", ID: id}, ScheduledTime: w.now, BatchSize: batch, Budget: budget})
}

// A run under another delivery id (same scheduled time) meets members whose expiry the first
// posted and who have a lot due again (credited late with a past expiry), in the same batches
// as members not expired yet: it expires the others and posts nothing twice, and leaves the
// lots of the members it skips as they are (the invariants, checked at the end, hold only if
// no lot is deleted without its ledger line).
func TestAnExpiryUnderAnotherDeliveryIDSkipsTheMembersAlreadyExpiredInTheSameBatches(t *testing.T) {
	w := newTriggerWorld(t)
	earned := w.now.AddDate(-1, 0, 0)
	seedLots(t, w.db, 60, 3, 2, earned, w.now.Add(-time.Hour)) // 20 points due each, 10 later
	ids := memberIDs(t, w.db)
	if len(ids) != 60 {
		t.Fatalf("%d seeded members", len(ids))
	}
	// The first delivery stops after its first batch (25 members) and is not retried yet.
	_, err := expireRun(w, "first", 25, time.Nanosecond)
	var more *loyalty.ErrMoreWork
	if !errors.As(err, &more) || more.Done.Members != 25 || more.Done.Points != -500 {
		t.Fatalf("first delivery: %v; want to stop after 25 members and 500 points", err)
	}
	// 5 points due at the same cut-off reach 10 members already expired and 10 not.
	late := ids[15:35]
	creditLot(t, w.db, late, 5, earned, w.now.Add(-time.Minute))

	second, err := expireRun(w, "second", 7, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// 35 members not expired yet: 20 points each, and the late 5 for 10 of them.
	// It meets 45 members with a lot due (the 10 skipped among them): 6 batches of 7 and one of 3.
	if second.Members != 35 || second.Points != -(35*20+10*5) || second.Batches != 7 {
		t.Fatalf("second delivery %+v; want 35 members, -750 points, 7 batches", second)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE kind = 'expire'`); n != 60 {
		t.Fatalf("%d expire entries, want one per member", n)
	}
	for i, id := range late {
		wantBalance, wantOpen := int64(10), int64(10) // the lot of the next year
		if i < 10 {
			wantBalance, wantOpen = 15, 15 // expired before the late credit: it stays
		}
		if b := lt.Balance(t, w.db, id); b != wantBalance {
			t.Errorf("member %d of the late credit: balance %d, want %d", i, b, wantBalance)
		}
		if n := lt.Count(t, w.db, `SELECT coalesce(sum(remaining), 0) FROM point_lots WHERE member_id = $1`, id); n != wantOpen {
			t.Errorf("member %d of the late credit: %d points in open lots, want %d", i, n, wantOpen)
		}
	}
	// Every expire entry left the balance it says, per member.
	if n := lt.Count(t, w.db, `
		SELECT count(*) FROM point_transactions t JOIN members m ON m.id = t.member_id
		WHERE t.kind = 'expire' AND t.balance_after <> m.points_balance
		  AND m.id <> ALL($1::uuid[])`, ids[15:25]); n != 0 {
		t.Fatalf("%d expire entries whose balance_after is not the member's balance", n)
	}
	// Hasura's retry of the first delivery finishes it: nothing is left for it to do.
	before := cronState(t, w.db)
	first, err := expireRun(w, "first", 25, time.Minute)
	if err != nil || first.Members != 25 {
		t.Fatalf("retry of the first delivery: %+v, %v; want its 25 members only", first, err)
	}
	if after := cronState(t, w.db); after != before {
		t.Fatalf("the retry changed the books: %v before, %v after", before, after)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM cron_progress`); n != 0 {
		t.Fatalf("%d cron_progress rows left", n)
	}
}

// Members in debt have no open lot (lots hold max(balance, 0)): the expiry leaves them alone,
// in the same batches as members whose lots expire, and a member whose credit paid a debt
// first expires only what the lot kept.
func TestExpiryLeavesDebtsAloneAndExpiresOnlyWhatTheLotsHold(t *testing.T) {
	w := newTriggerWorld(t)
	now := w.now
	seedLots(t, w.db, 30, 2, 1, now.AddDate(-1, 0, 0), now.Add(-time.Hour)) // 10 due each, 10 later
	w.now = now.AddDate(-1, 0, -1)                                          // lots credited now are due at the run
	ctx := context.Background()
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 200})
	debt := func(receipt string) string {
		id, code := w.member()
		w.earn(code, receipt, 20_000) // 200 points
		if _, err := w.svc.RedeemReward(ctx, loyalty.Caller{Role: loyalty.RoleMember, UserID: id},
			loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: hasuratest.NewUUID()}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.RefundOrder(ctx, w.crew, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: receipt}); err != nil {
			t.Fatal(err)
		}
		if b := lt.Balance(t, w.db, id); b != -200 {
			t.Fatalf("set-up: balance %d, want -200", b)
		}
		return id
	}
	inDebt := debt("R-1")
	stillInDebt := debt("R-2")
	var code string
	if err := w.db.QueryRow(ctx, `SELECT member_code FROM members WHERE id = $1`, stillInDebt).Scan(&code); err != nil {
		t.Fatal(err)
	}
	w.earn(code, "R-2b", 15_000) // 150 points: -50, the lot holds nothing
	paidOff := debt("R-3")
	lt.Give(t, w.svc, paidOff, 300) // 100: the lot holds 100
	w.now = now

	out := w.deliverAtLeastOnce(hasuratest.Cron(t, "expire_points", w.now, map[string]int{"batch_size": 4}))
	if out.Members != 31 || out.Points != -(30*10+100) {
		t.Fatalf("outcome %+v; want 31 members (30 and the paid-off one), -400 points", out)
	}
	for id, want := range map[string]int64{inDebt: -200, stillInDebt: -50, paidOff: 0} {
		if b := lt.Balance(t, w.db, id); b != want {
			t.Errorf("balance %d, want %d", b, want)
		}
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE kind = 'expire' AND member_id = ANY($1::uuid[])`,
		[]string{inDebt, stillInDebt}); n != 0 {
		t.Fatalf("%d expire entries for members in debt", n)
	}
	var points, after int64
	if err := w.db.QueryRow(ctx, `SELECT points, balance_after FROM point_transactions WHERE kind = 'expire' AND member_id = $1`, paidOff).Scan(&points, &after); err != nil || points != -100 || after != 0 {
		t.Fatalf("the paid-off member's expiry: %d points leaving %d (%v); want -100 leaving 0", points, after, err)
	}
}

// The set-based tier review decides as TierFor does, member by member: net points of the
// year (earn and refund entries after now - 365 days, no upper end), the highest tier they
// reach, only ever down; deleted members and members at the lowest tier are not looked at.
func TestTierReviewOfABatchDecidesEachMemberAsTierForDoes(t *testing.T) {
	w := newTriggerWorld(t)
	review := w.now
	member := func(tier string, receipt string, amount int64, at time.Time) string {
		id, code := w.member()
		if amount > 0 {
			w.now = at
			w.earn(code, receipt, amount)
			w.now = review
		}
		lt.Exec(t, w.db, `UPDATE members SET tier_id = $2 WHERE id = $1`, id, tier)
		return id
	}
	recent := review.AddDate(0, -1, 0)
	edge := review.Add(-365 * 24 * time.Hour)
	silver := member("gold", "R-1", 100_000, recent)                     // 1000: silver exactly
	below := member("gold", "R-2", 99_900, recent)                       // 999: member
	refunded := member("gold", "R-3", 600_000, recent)                   // 6000, then 1500 refunded: silver
	outside := member("gold", "R-4", 600_000, edge)                      // at the window's start: not counted
	inside := member("gold", "R-5", 600_000, edge.Add(time.Microsecond)) // just inside: stays gold
	ahead := member("gold", "R-6", 600_000, review.Add(time.Minute))     // stamped ahead of the review: counts
	silverNone := member("silver", "", 0, review)
	deleted := member("gold", "", 0, review)
	lt.Exec(t, w.db, `UPDATE members SET deleted_at = $2 WHERE id = $1`, deleted, review)
	lowest := member("member", "", 0, review)
	amount := int64(150_000)
	if _, err := w.svc.RefundOrder(context.Background(), w.crew, loyalty.RefundOrderInput{StoreID: w.store, ReceiptNo: "R-3", Amount: &amount}); err != nil {
		t.Fatal(err)
	}

	out := w.deliverAtLeastOnce(hasuratest.Cron(t, "tier_review", review, map[string]int{"batch_size": 3}))
	if out.Members != 5 {
		t.Fatalf("review moved %d members, want 5", out.Members)
	}
	want := map[string]string{silver: "silver", below: "member", refunded: "silver", outside: "member", inside: "gold",
		ahead: "gold", silverNone: "member", deleted: "gold", lowest: "member"}
	for id, tier := range want {
		if got := w.tier(id); got != tier {
			t.Errorf("member %s: tier %s, want %s", id, got, tier)
		}
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM notifications WHERE kind = 'tier_down'`); n != 5 {
		t.Fatalf("%d tier_down notifications, want 5", n)
	}
	var title, body, tierID, key string
	if err := w.db.QueryRow(context.Background(), `SELECT title, body, data->>'tierId', dedupe_key FROM notifications WHERE kind = 'tier_down' AND member_id = $1`, silver).
		Scan(&title, &body, &tierID, &key); err != nil {
		t.Fatal(err)
	}
	if title != "Your tier changed" || body != "Your tier is now silver. Earn more to move back up." || tierID != "silver" ||
		key != "tier_down:"+silver+":silver:"+review.Format("2006-01-02") {
		t.Fatalf("tier_down notification %q %q %q %q", title, body, tierID, key)
	}
}

// A tier review larger than one delivery's budget is finished by Hasura's retries, a batch at
// a time, each member moved and told once.
func TestATierReviewInterruptedByItsBudgetFinishesOnRetries(t *testing.T) {
	w := newTriggerWorld(t)
	seedLots(t, w.db, 30, 1, 0, w.now.AddDate(0, -1, 0), w.now.AddDate(1, 0, 0))
	lt.Exec(t, w.db, `UPDATE members SET tier_id = 'gold' WHERE display_name LIKE 'member %'`)
	run := loyalty.CronRun{Delivery: loyalty.Delivery{Trigger: "tier_review", ID: "review-1"}, ScheduledTime: w.now, BatchSize: 4, Budget: time.Nanosecond}
	var out loyalty.Outcome
	deliveries := 0
	for {
		deliveries++
		if deliveries > 20 {
			t.Fatal("the review did not finish in 20 deliveries")
		}
		var err error
		out, err = w.svc.ReviewTiers(context.Background(), run)
		var more *loyalty.ErrMoreWork
		if errors.As(err, &more) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	// 30 members in batches of 4: 8 batches, one a delivery (the last finds 2 and stops).
	if out.Members != 30 || out.Batches != 8 || deliveries != 8 {
		t.Fatalf("outcome %+v after %d deliveries; want 30 members in 8 batches and deliveries", out, deliveries)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM notifications WHERE kind = 'tier_down'`); n != 30 {
		t.Fatalf("%d tier_down notifications, want 30", n)
	}
	if again, err := w.svc.ReviewTiers(context.Background(), run); err != nil || !again.Duplicate {
		t.Fatalf("a delivery after the run completed: %+v, %v; want a duplicate", again, err)
	}
}

// Expiry reminders over batches of members: one per member with points in the window, the
// sum and earliest date of what expires in it, none for deleted members or for lots outside
// the window; a replay writes nothing.
func TestExpiryRemindersOverManyMembersInSmallBatches(t *testing.T) {
	w := newTriggerWorld(t)
	seedLots(t, w.db, 12, 3, 2, w.now.AddDate(-1, 0, 0), w.now.AddDate(0, 0, 5)) // 20 points in the window each
	ids := memberIDs(t, w.db)
	lt.Exec(t, w.db, `UPDATE point_lots SET expires_at = expires_at - interval '2 days' WHERE id IN (
		SELECT DISTINCT ON (member_id) id FROM point_lots WHERE member_id = ANY($1::uuid[]) AND expires_at <= $2
		ORDER BY member_id, id)`, ids[:4], w.now.AddDate(0, 0, 6))
	lt.Exec(t, w.db, `UPDATE members SET deleted_at = $2 WHERE id = ANY($1::uuid[])`, ids[9:], w.now)
	for range 5 { // points valid a year: outside the window
		id, _ := w.member()
		lt.Give(t, w.svc, id, 40)
	}
	out := w.deliverAtLeastOnce(hasuratest.Cron(t, "expiry_reminders", w.now, map[string]int{"batch_size": 2}))
	if out.Members != 9 {
		t.Fatalf("outcome %+v; want 9 members reminded (12 less 3 deleted)", out)
	}
	if again := w.deliver(hasuratest.Cron(t, "expiry_reminders", w.now, map[string]int{"batch_size": 5})); again.Members != 0 {
		t.Fatalf("a replay under another id reminded %d members", again.Members)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM notifications WHERE kind = 'points_expiring'`); n != 9 {
		t.Fatalf("%d points_expiring notifications, want 9", n)
	}
	for i, id := range ids[:9] {
		var points int64
		var on string
		if err := w.db.QueryRow(context.Background(), `SELECT (data->>'points')::bigint, data->>'expiresOn' FROM notifications
			WHERE kind = 'points_expiring' AND member_id = $1`, id).Scan(&points, &on); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		days := 5
		if i < 4 {
			days = 3
		}
		if wantOn := w.now.AddDate(0, 0, days).In(tokyo).Format(time.DateOnly); points != 20 || on != wantOn {
			t.Errorf("member %d: %d points on %s, want 20 on %s", i, points, on, wantOn)
		}
	}
}
