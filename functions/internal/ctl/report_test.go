package ctl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

func TestTheLiabilityReportAddsUpTheLotsAndTheLedgerAndDrawsAChart(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	// Lots of 100 expiring in 10, 45, 80 and 200 days; 40 points redeemed this month.
	lt.Exec(t, w.db, `
		WITH e AS (
			INSERT INTO point_transactions (member_id, kind, points, balance_after, reason, idempotency_key)
			SELECT $1::uuid, 'adjust', 100, 100 * d.n, 'seed', 'seed:' || d.n FROM (VALUES (1, 10), (2, 45), (3, 80), (4, 200)) d(n, days)
			RETURNING id, balance_after)
		INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
		SELECT $1::uuid, e.id, 100, 100, now(), now() + (d.days || ' days')::interval
		FROM e JOIN (VALUES (1, 10), (2, 45), (3, 80), (4, 200)) d(n, days) ON e.balance_after = 100 * d.n`, id)
	lt.Exec(t, w.db, `UPDATE members SET points_balance = 400 WHERE id = $1`, id)
	a := w.run("report", "liability", "--json")
	w.want(a, 0)
	r := decode[struct {
		Summary struct {
			Outstanding int64 `json:"outstanding"`
			E30         int64 `json:"expiring_30d"`
			E60         int64 `json:"expiring_60d"`
			E90         int64 `json:"expiring_90d"`
		}
		Months []struct {
			Month  string
			Earned int64
		}
	}](t, a.out)
	if r.Summary.Outstanding != 400 || r.Summary.E30 != 100 || r.Summary.E60 != 200 || r.Summary.E90 != 300 {
		t.Errorf("summary %+v", r.Summary)
	}
	if len(r.Months) != 12 || r.Months[11].Earned != 400 || r.Months[0].Earned != 0 {
		t.Errorf("months %+v", r.Months)
	}
	dir := t.TempDir()
	for _, name := range []string{"liability.png", "liability.svg"} {
		out := filepath.Join(dir, name)
		w.want(w.run("report", "liability", "--out", out), 0, "outstanding", "400", "expiring within 90 days", "MONTH", "chart written to "+out)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".png") && !strings.HasPrefix(string(data), "\x89PNG") || strings.HasSuffix(name, ".svg") && !strings.Contains(string(data), "<svg") {
			t.Errorf("%s is not a chart (%d bytes)", name, len(data))
		}
	}
}

// Points spent, expired and reversed land in the month they were posted (programme time
// zone), each in its own column, and only what is left of the lots is outstanding.
func TestTheLiabilityReportCountsSpentExpiredAndReversedPointsPerMonth(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 120})
	// Mid-month, k months ago, in the programme's time zone.
	const monthsAgo = `((date_trunc('month', now() AT TIME ZONE tz.name) - ($1::int || ' months')::interval + interval '14 days') AT TIME ZONE tz.name)`
	const tz = `(SELECT coalesce((SELECT timezone FROM program_settings WHERE id = 1), 'UTC') AS name) tz`
	post := func(ago int, kind string, points, after int64, key string, coupon *string) {
		lt.Exec(t, w.db, `INSERT INTO point_transactions (member_id, kind, points, balance_after, coupon_id, reason, idempotency_key, created_at)
			SELECT $2::uuid, $3, $4::bigint, $5::bigint, $6::uuid, 'seed', $7, `+monthsAgo+` FROM `+tz,
			ago, id, kind, points, after, coupon, key)
	}
	post(5, "adjust", 500, 500, "earned", nil)
	var coupon string
	if err := w.db.QueryRow(t.Context(), `INSERT INTO coupons (code, member_id, reward_id, issued_at, expires_at)
		VALUES ('ABCDEFGH', $1, $2, now() - interval '70 days', now() + interval '30 days') RETURNING id::text`, id, reward).Scan(&coupon); err != nil {
		t.Fatal(err)
	}
	post(2, "redeem", -120, 380, "spent", &coupon)
	post(1, "expire", -80, 300, "expired", nil)
	post(0, "adjust", -30, 270, "reversed", nil)
	lt.Exec(t, w.db, `INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
		SELECT member_id, id, 500, 270, created_at, now() + interval '200 days' FROM point_transactions WHERE idempotency_key = 'earned'`)
	lt.Exec(t, w.db, `UPDATE members SET points_balance = 270 WHERE id = $1`, id)
	w.want(w.run("check", "invariants"), 0) // the ledger above is a consistent one

	a := w.run("report", "liability", "--json")
	w.want(a, 0)
	type month struct {
		Month                            string
		Earned, Spent, Expired, Reversed int64
	}
	r := decode[struct {
		Summary struct {
			Outstanding int64 `json:"outstanding"`
			E90         int64 `json:"expiring_90d"`
			Debt        int64 `json:"debt"`
		}
		Months []month
	}](t, a.out)
	if r.Summary.Outstanding != 270 || r.Summary.E90 != 0 || r.Summary.Debt != 0 {
		t.Errorf("summary %+v, want 270 outstanding, none expiring or owed", r.Summary)
	}
	if len(r.Months) != 12 {
		t.Fatalf("%d months", len(r.Months))
	}
	want := map[int]month{6: {Earned: 500}, 9: {Spent: 120}, 10: {Expired: 80}, 11: {Reversed: 30}}
	for i, m := range r.Months {
		exp := want[i]
		exp.Month = m.Month
		if m != exp {
			t.Errorf("month %d (%s): %+v, want %+v", i, m.Month, m, exp)
		}
	}
	text := w.run("report", "liability")
	w.want(text, 0, "outstanding              270",
		r.Months[9].Month+"  0       120    0        0", r.Months[10].Month+"  0       0      80       0", r.Months[11].Month+"  0       0      0        30")
}
