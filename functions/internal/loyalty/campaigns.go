package loyalty

import (
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Campaign kinds (campaigns.kind).
const (
	CampaignMultiplier = "multiplier"
	CampaignBonus      = "bonus"
)

// Campaign is a promotion operators run without a deploy: a multiplier on top of the tier's,
// or bonus points, for orders that match it.
type Campaign struct {
	ID            string
	Kind          string
	MultiplierPct int   // > 100, for multiplier campaigns
	BonusPoints   int64 // > 0, for bonus campaigns
	StartsAt      time.Time
	EndsAt        time.Time // the window is [StartsAt, EndsAt)
	StoreID       *string   // nil: every store
	DaysOfWeek    []int     // ISO weekdays in the programme's time zone; empty: every day
	MinAmount     *int64
	MinTierRank   int
}

// OrderFacts is what campaign matching reads of an order being credited.
type OrderFacts struct {
	StoreID string
	PaidAt  time.Time
	Amount  int64
	// TierRank is the member's tier before this order's upgrade.
	TierRank int
}

// Matches tells whether the campaign applies to the order; loc is the programme's time zone,
// in which the weekday of PaidAt is read.
func (c Campaign) Matches(o OrderFacts, loc *time.Location) bool {
	switch {
	case o.PaidAt.Before(c.StartsAt) || !o.PaidAt.Before(c.EndsAt):
		return false
	case c.StoreID != nil && *c.StoreID != o.StoreID:
		return false
	case c.MinAmount != nil && o.Amount < *c.MinAmount:
		return false
	case o.TierRank < c.MinTierRank:
		return false
	case len(c.DaysOfWeek) > 0 && !slices.Contains(c.DaysOfWeek, isoWeekday(o.PaidAt.In(loc))):
		return false
	}
	return true
}

// isoWeekday is 1 for Monday ... 7 for Sunday.
func isoWeekday(t time.Time) int {
	if d := t.Weekday(); d != time.Sunday {
		return int(d)
	}
	return 7
}

// BasePoints is what an order earns before any multiplier:
// floor(amount / earn_spend_unit) * earn_points_per_unit.
func BasePoints(amount int64, s Settings) int64 {
	if amount <= 0 || s.EarnSpendUnit <= 0 {
		return 0
	}
	return mulDiv(amount/s.EarnSpendUnit, s.EarnPointsPerUnit, 1)
}

// ApplyCampaigns is what an order of base points earns at the tier's multiplier with the
// matching campaigns: multipliers do not stack (the highest applies, ties to the lowest id),
// bonuses add up. points = floor(base * tierPct * campaignPct / 10000) + bonuses, with
// campaignPct 100 when no multiplier matched. applied lists the campaigns that counted: the
// multiplier used and every bonus, in id order.
func ApplyCampaigns(base int64, tierPct int, matching []Campaign) (points int64, applied []string) {
	var best *Campaign
	var bonus int64
	applied = []string{}
	for i := range matching {
		c := &matching[i]
		switch c.Kind {
		case CampaignMultiplier:
			if best == nil || c.MultiplierPct > best.MultiplierPct || (c.MultiplierPct == best.MultiplierPct && c.ID < best.ID) {
				best = c
			}
		case CampaignBonus:
			bonus = satAdd(bonus, c.BonusPoints)
			applied = append(applied, c.ID)
		}
	}
	pct := int64(100)
	if best != nil {
		pct = int64(best.MultiplierPct)
		applied = append(applied, best.ID)
	}
	slices.Sort(applied)
	return satAdd(mulDiv(base, int64(tierPct)*pct, 10000), bonus), applied
}

// satAdd adds non-negative a and b, saturating instead of wrapping (refused later as out of
// range, like mulDiv's results).
func satAdd(a, b int64) int64 {
	if a > 0 && b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// The campaigns that may apply to an order: active, its paid_at in their window, at its store
// or every store (on the window index); Matches decides the rest. campaignsOfReceiptSQL takes
// the request time ($1), the store ($2) and the receipt ($3): the order's paid_at when the
// receipt is recorded (a POS may have written it long before the counter credits it), the
// request time otherwise, as the order earnPoints writes is paid then. campaignsOfOrderSQL
// reads both from the order ($1).
const (
	campaignColumns = `c.id, c.kind, coalesce(c.multiplier_pct, 0), coalesce(c.bonus_points, 0), c.starts_at, c.ends_at,
		c.store_id, coalesce(c.days_of_week, '{}'), c.min_amount, c.min_tier_rank`
	campaignsOfReceiptSQL = `SELECT ` + campaignColumns + `
		FROM (SELECT coalesce((SELECT o.paid_at FROM orders o WHERE o.store_id = $2 AND o.receipt_no = $3), $1::timestamptz) AS paid_at) o
		JOIN campaigns c ON c.active AND c.ends_at > o.paid_at AND c.starts_at <= o.paid_at
		WHERE c.store_id IS NULL OR c.store_id = $2
		ORDER BY c.id`
	campaignsOfOrderSQL = `SELECT ` + campaignColumns + ` FROM campaigns c JOIN orders o ON o.id = $1
		WHERE c.active AND c.ends_at > o.paid_at AND c.starts_at <= o.paid_at AND (c.store_id IS NULL OR c.store_id = o.store_id)
		ORDER BY c.id`
)

func scanCampaign(r pgx.CollectableRow) (Campaign, error) {
	var c Campaign
	err := r.Scan(&c.ID, &c.Kind, &c.MultiplierPct, &c.BonusPoints, &c.StartsAt, &c.EndsAt, &c.StoreID,
		&c.DaysOfWeek, &c.MinAmount, &c.MinTierRank)
	return c, err
}
