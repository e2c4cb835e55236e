package loyalty

import (
	"slices"
	"testing"
	"time"
)

func TestCampaignMatching(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	store, other := "store-1", "store-2"
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	base := Campaign{ID: "c", Kind: CampaignMultiplier, MultiplierPct: 200,
		StartsAt: at("2026-06-01T00:00:00+09:00"), EndsAt: at("2026-07-01T00:00:00+09:00")}
	with := func(f func(*Campaign)) Campaign { c := base; f(&c); return c }
	order := OrderFacts{StoreID: store, PaidAt: at("2026-06-02T12:00:00+09:00"), Amount: 2500, TierRank: 1} // a Tuesday
	minAmount := func(v int64) *int64 { return &v }
	cases := []struct {
		name     string
		campaign Campaign
		order    OrderFacts
		want     bool
	}{
		{"inside the window, any store, any day", base, order, true},
		{"the window's first instant is inside", base, OrderFacts{StoreID: store, PaidAt: base.StartsAt}, true},
		{"a window that ends at the order's instant does not hold it", base, OrderFacts{StoreID: store, PaidAt: base.EndsAt}, false},
		{"before the window", base, OrderFacts{StoreID: store, PaidAt: base.StartsAt.Add(-time.Nanosecond)}, false},
		{"its own store", with(func(c *Campaign) { c.StoreID = &store }), order, true},
		{"another store's campaign", with(func(c *Campaign) { c.StoreID = &other }), order, false},
		{"Tuesday listed", with(func(c *Campaign) { c.DaysOfWeek = []int{2} }), order, true},
		{"Tuesday not listed", with(func(c *Campaign) { c.DaysOfWeek = []int{1, 3, 4, 5, 6, 7} }), order, false},
		// 15:30 UTC on Monday 1 June is 00:30 on Tuesday 2 June in Tokyo.
		{"just after midnight in Tokyo is Tuesday though UTC says Monday", with(func(c *Campaign) { c.DaysOfWeek = []int{2} }),
			OrderFacts{StoreID: store, PaidAt: at("2026-06-01T15:30:00Z")}, true},
		{"just before midnight in Tokyo is still Monday", with(func(c *Campaign) { c.DaysOfWeek = []int{2} }),
			OrderFacts{StoreID: store, PaidAt: at("2026-06-01T14:59:59Z")}, false},
		{"Sunday is 7", with(func(c *Campaign) { c.DaysOfWeek = []int{7} }), OrderFacts{StoreID: store, PaidAt: at("2026-06-07T12:00:00+09:00")}, true},
		{"an amount at the minimum", with(func(c *Campaign) { c.MinAmount = minAmount(2500) }), order, true},
		{"an amount below the minimum", with(func(c *Campaign) { c.MinAmount = minAmount(2501) }), order, false},
		{"a tier at the minimum rank", with(func(c *Campaign) { c.MinTierRank = 1 }), order, true},
		{"a tier below the minimum rank", with(func(c *Campaign) { c.MinTierRank = 2 }), order, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.campaign.Matches(c.order, tokyo); got != c.want {
				t.Fatalf("Matches = %v, want %v", got, c.want)
			}
		})
	}
}

func TestCampaignArithmetic(t *testing.T) {
	double := Campaign{ID: "b-double", Kind: CampaignMultiplier, MultiplierPct: 200}
	triple := Campaign{ID: "c-triple", Kind: CampaignMultiplier, MultiplierPct: 300}
	tripleToo := Campaign{ID: "a-triple", Kind: CampaignMultiplier, MultiplierPct: 300}
	opening := Campaign{ID: "d-opening", Kind: CampaignBonus, BonusPoints: 50}
	weekend := Campaign{ID: "e-weekend", Kind: CampaignBonus, BonusPoints: 20}
	cases := []struct {
		name      string
		base      int64
		tierPct   int
		campaigns []Campaign
		points    int64
		applied   []string
	}{
		{"no campaign: the tier's multiplier only", 25, 125, nil, 31, []string{}},
		{"a silver member's double points: floor(25 * 125 * 200 / 10000)", 25, 125, []Campaign{double}, 62, []string{"b-double"}},
		{"multipliers do not stack: the highest applies", 25, 100, []Campaign{double, triple}, 75, []string{"c-triple"}},
		{"equal multipliers: the lowest id is the one named", 10, 100, []Campaign{triple, tripleToo}, 30, []string{"a-triple"}},
		{"bonuses add up, outside the multiplication", 25, 125, []Campaign{opening, weekend}, 31 + 70, []string{"d-opening", "e-weekend"}},
		{"the worked example: silver, double Tuesday, opening bonus", 25, 125, []Campaign{opening, double}, 62 + 50, []string{"b-double", "d-opening"}},
		{"a bonus applies to an order that earns nothing else", 0, 100, []Campaign{opening}, 50, []string{"d-opening"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			points, applied := ApplyCampaigns(c.base, c.tierPct, c.campaigns)
			if points != c.points || !slices.Equal(applied, c.applied) {
				t.Fatalf("ApplyCampaigns = %d %v, want %d %v", points, applied, c.points, c.applied)
			}
		})
	}
}
