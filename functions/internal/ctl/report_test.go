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
