package loyalty_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// The rows an earn, a redemption and an expiry write get time-ordered ids (UUID version 7), so that
// inserts land on the newest pages of the indexes on them.
func TestTheRowsTheProgrammeWritesHaveTimeOrderedIDs(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "ID-1", 10000))
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "ID-2", 10000))
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})
	must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "k"}))
	timeOrdered(t, w, id,
		`SELECT id FROM orders WHERE member_id = $1 ORDER BY paid_at, receipt_no`,
		`SELECT id FROM point_transactions WHERE member_id = $1 ORDER BY seq`,
		`SELECT l.id FROM point_lots l JOIN point_transactions t ON t.id = l.transaction_id WHERE l.member_id = $1 ORDER BY t.seq`,
		`SELECT id FROM coupons WHERE member_id = $1`)
	// The nightly expiry's entry too, two years on, when what is left has expired.
	if out := must[loyalty.Outcome](t)(w.svc.ExpirePoints(context.Background(), loyalty.CronRun{
		Delivery: loyalty.Delivery{Trigger: "expire_points", ID: "ids"}, ScheduledTime: time.Now().AddDate(2, 0, 0)})); out.Members != 1 {
		t.Fatalf("expiry: %+v, want the member's lots expired", out)
	}
	timeOrdered(t, w, id, `SELECT id FROM point_transactions WHERE member_id = $1 ORDER BY seq`)
}

// timeOrdered fails unless every query of member id finds ids of version 7, rising.
func timeOrdered(t *testing.T, w *world, id string, queries ...string) {
	t.Helper()
	for _, q := range queries {
		rows, _ := w.db.Query(context.Background(), q, id)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			t.Fatalf("%s: %v %v", q, ids, err)
		}
		for i, s := range ids {
			if v := uuid.MustParse(s).Version(); v != 7 {
				t.Errorf("%s: id %s is version %d, want 7", q, s, v)
			}
			if i > 0 && s <= ids[i-1] {
				t.Errorf("%s: ids %v are not in the order the rows were written", q, ids)
			}
		}
	}
}
