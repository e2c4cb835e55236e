package loyalty_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// The rows an earn and a redemption write get time-ordered ids (UUID version 7), so that
// inserts land on the newest pages of the indexes on them.
func TestTheRowsTheProgrammeWritesHaveTimeOrderedIDs(t *testing.T) {
	w := newWorld(t)
	id, code := lt.Member(t, w.db)
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "ID-1", 10000))
	must[loyalty.EarnPointsOutput](t)(w.earn(code, "ID-2", 10000))
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})
	must[loyalty.RedeemRewardOutput](t)(w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: "k"}))
	for _, q := range []string{
		`SELECT id FROM orders WHERE member_id = $1 ORDER BY paid_at, receipt_no`,
		`SELECT id FROM point_transactions WHERE member_id = $1 ORDER BY seq`,
		`SELECT l.id FROM point_lots l JOIN point_transactions t ON t.id = l.transaction_id WHERE l.member_id = $1 ORDER BY t.seq`,
		`SELECT id FROM coupons WHERE member_id = $1`,
	} {
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
