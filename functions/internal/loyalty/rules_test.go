package loyalty

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPointsFor(t *testing.T) {
	st := Settings{EarnSpendUnit: 100, EarnPointsPerUnit: 1}
	cases := []struct {
		name   string
		amount int64
		s      Settings
		pct    int
		want   int64
	}{
		{"a whole number of units earns one point each", 1200, st, 100, 12},
		{"the remainder below a unit earns nothing", 1299, st, 100, 12},
		{"an amount below one unit earns nothing", 99, st, 100, 0},
		{"the tier multiplier applies to the base", 1000, st, 125, 12}, // floor(10*1.25)
		{"the multiplied points are rounded down", 300, st, 150, 4},    // floor(3*1.5)
		{"several points per unit multiply the base", 1000, Settings{EarnSpendUnit: 100, EarnPointsPerUnit: 3}, 150, 45},
		{"zero points per unit earns nothing", 1000, Settings{EarnSpendUnit: 100, EarnPointsPerUnit: 0}, 150, 0},
		{"a zero amount earns nothing", 0, st, 150, 0},
		{"large amounts do not overflow", 9_000_000_000_000_000, Settings{EarnSpendUnit: 1, EarnPointsPerUnit: 1}, 150, 13_500_000_000_000_000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := PointsFor(c.amount, c.s, c.pct); got != c.want {
				t.Fatalf("PointsFor(%d, %d%%) = %d, want %d", c.amount, c.pct, got, c.want)
			}
		})
	}
}

func TestRefundTargetAcrossSeveralPartialRefunds(t *testing.T) {
	// An order of 1000 that earned 15 points, refunded in parts: 333, 333, 334.
	steps := []struct {
		refunded int64
		want     int64
	}{{0, 0}, {333, 4}, {666, 9}, {1000, 15}}
	for _, s := range steps {
		if got := RefundTarget(15, 1000, s.refunded); got != s.want {
			t.Errorf("after refunding %d: target %d, want %d", s.refunded, got, s.want)
		}
	}
	cases := []struct {
		name                     string
		earned, amount, refunded int64
		want                     int64
	}{
		{"a full refund reverses everything earned", 7, 700, 700, 7},
		{"a partial refund rounds down", 7, 700, 699, 6},
		{"nothing earned reverses nothing", 0, 700, 700, 0},
		{"an over-refund never reverses more than earned", 7, 700, 900, 7},
		{"a zero-amount order reverses nothing", 7, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RefundTarget(c.earned, c.amount, c.refunded); got != c.want {
				t.Fatalf("RefundTarget = %d, want %d", got, c.want)
			}
		})
	}
}

func TestRefundTargetIsMonotoneAndBounded(t *testing.T) {
	for earned := int64(0); earned < 40; earned++ {
		prev := int64(0)
		for refunded := int64(0); refunded <= 97; refunded++ {
			got := RefundTarget(earned, 97, refunded)
			if got < prev || got > earned {
				t.Fatalf("earned %d refunded %d: target %d after %d", earned, refunded, got, prev)
			}
			prev = got
		}
		if prev != earned {
			t.Fatalf("earned %d: a full refund reverses %d", earned, prev)
		}
	}
}

func TestAllocateFIFO(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	lots := []Lot{
		{ID: "c", Remaining: 50, ExpiresAt: day(20)},
		{ID: "a", Remaining: 10, ExpiresAt: day(5)},
		{ID: "b2", Remaining: 30, ExpiresAt: day(10)},
		{ID: "b1", Remaining: 20, ExpiresAt: day(10)},
		{ID: "empty", Remaining: 0, ExpiresAt: day(1)},
	}
	cases := []struct {
		name      string
		points    int64
		want      string
		wantShort int64
	}{
		{"the lot that expires first goes first", 5, "a:5", 0},
		{"a lot is emptied before the next is touched", 25, "a:10 b1:15", 0},
		{"lots expiring together go in id order", 40, "a:10 b1:20 b2:10", 0},
		{"every lot can be emptied", 110, "a:10 b1:20 b2:30 c:50", 0},
		{"what the lots cannot cover is reported", 130, "a:10 b1:20 b2:30 c:50", 20},
		{"nothing taken for zero", 0, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			takes, short := AllocateFIFO(lots, c.points)
			var parts []string
			for _, tk := range takes {
				parts = append(parts, tk.LotID+":"+strconv.FormatInt(tk.Points, 10))
			}
			if got := strings.Join(parts, " "); got != c.want || short != c.wantShort {
				t.Fatalf("got %q short %d, want %q short %d", got, short, c.want, c.wantShort)
			}
		})
	}
}

func TestAllocateReversalTakesTheReversedCreditsOwnLotFirst(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	lots := []Lot{
		{ID: "old", TransactionID: "t-old", Remaining: 100, ExpiresAt: day(5)},
		{ID: "mid", TransactionID: "t-mid", Remaining: 40, ExpiresAt: day(10)},
		{ID: "own", TransactionID: "t-own", Remaining: 30, ExpiresAt: day(28)},
	}
	cases := []struct {
		name      string
		points    int64
		entry     string
		want      string
		wantShort int64
	}{
		{"all from its own lot while it holds enough", 30, "t-own", "own:30", 0},
		{"what its own lot lacks comes from the lot that expires first", 50, "t-own", "own:30 old:20", 0},
		{"beyond every lot the shortfall is reported", 200, "t-own", "own:30 old:100 mid:40", 30},
		{"a credit whose lot is spent falls back to FIFO", 20, "t-gone", "old:20", 0},
		{"no entry named: plain FIFO", 120, "", "old:100 mid:20", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			takes, short := AllocateReversal(lots, c.points, c.entry)
			var parts []string
			for _, tk := range takes {
				parts = append(parts, tk.LotID+":"+strconv.FormatInt(tk.Points, 10))
			}
			if got := strings.Join(parts, " "); got != c.want || short != c.wantShort {
				t.Fatalf("got %q short %d, want %q short %d", got, short, c.want, c.wantShort)
			}
		})
	}
	if lots[2].Remaining != 30 {
		t.Fatal("AllocateReversal changed the caller's lots")
	}
}

func TestPointsForSaturatesInsteadOfWrapping(t *testing.T) {
	huge := Settings{EarnSpendUnit: 1, EarnPointsPerUnit: math.MaxInt64}
	if got := PointsFor(math.MaxInt32, huge, 150); got != math.MaxInt64 {
		t.Fatalf("PointsFor overflowing int64 = %d; want it saturated at MaxInt64 (then refused as out of range)", got)
	}
	if inIntRange(math.MaxInt32+1) || inIntRange(math.MinInt32-1) || !inIntRange(math.MinInt32) || !inIntRange(math.MaxInt32) {
		t.Fatal("inIntRange is not GraphQL's Int")
	}
}

func TestTodayIsTheDateInTheProgrammesTimeZone(t *testing.T) {
	now := time.Date(2026, 6, 1, 15, 30, 0, 0, time.UTC) // 00:30 on 2 June in Tokyo
	for tz, want := range map[string]int{"Asia/Tokyo": 2, "UTC": 1, "America/Los_Angeles": 1} {
		got, err := Settings{Timezone: tz}.Today(now)
		if err != nil || got != time.Date(2026, 6, want, 0, 0, 0, 0, time.UTC) {
			t.Errorf("Today in %s = %v, %v; want 2026-06-%02d", tz, got, err, want)
		}
	}
	if _, err := (Settings{Timezone: "Mars/Olympus"}).Today(now); err == nil {
		t.Error("an unknown time zone was accepted")
	}
}

func TestTierFor(t *testing.T) {
	tiers := []Tier{{ID: "gold", Rank: 2, MinPoints: 5000}, {ID: "member", Rank: 0, MinPoints: 0}, {ID: "silver", Rank: 1, MinPoints: 1000}}
	cases := []struct {
		earned int64
		want   string
	}{{0, "member"}, {999, "member"}, {1000, "silver"}, {4999, "silver"}, {5000, "gold"}, {1 << 40, "gold"}}
	for _, c := range cases {
		got, ok := TierFor(tiers, c.earned)
		if !ok || got.ID != c.want {
			t.Errorf("TierFor(%d) = %q, want %q", c.earned, got.ID, c.want)
		}
	}
	if _, ok := TierFor([]Tier{{ID: "silver", MinPoints: 10}}, 5); ok {
		t.Error("a tier was chosen though none qualifies")
	}
}

func TestCouponCodesUseOnlyUnambiguousCharacters(t *testing.T) {
	for _, c := range "01ILOU" {
		if strings.ContainsRune(CouponAlphabet, c) {
			t.Errorf("alphabet has look-alike %q", c)
		}
	}
	seen := map[string]bool{}
	counts := map[rune]int{}
	for i := 0; i < 3000; i++ {
		code := NewCouponCode()
		if len(code) != CouponCodeLength {
			t.Fatalf("code %q has length %d", code, len(code))
		}
		for _, r := range code {
			if !strings.ContainsRune(CouponAlphabet, r) {
				t.Fatalf("code %q has %q outside the alphabet", code, r)
			}
			counts[r]++
		}
		if seen[code] {
			t.Fatalf("code %q drawn twice in 3000", code)
		}
		seen[code] = true
	}
	if len(counts) != len(CouponAlphabet) {
		t.Fatalf("only %d of %d characters ever drawn", len(counts), len(CouponAlphabet))
	}
}

func TestNormalizeCouponCodeReadsWhatACashierTypes(t *testing.T) {
	for in, want := range map[string]string{"abcd-efgh": "ABCDEFGH", " AB CD EF GH ": "ABCDEFGH", "ABCDEFGH": "ABCDEFGH"} {
		if got := NormalizeCouponCode(in); got != want {
			t.Errorf("NormalizeCouponCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMemberCodesCarryALuhnCheckDigit(t *testing.T) {
	for i := 0; i < 1000; i++ {
		code := NewMemberCode()
		if !ValidMemberCode(code) {
			t.Fatalf("fresh code %q is not valid", code)
		}
		// Any single-digit typo is caught.
		for pos := 0; pos < 10; pos++ {
			b := []byte(code)
			b[pos] = '0' + (b[pos]-'0'+1)%10
			if ValidMemberCode(string(b)) {
				t.Fatalf("typo %q of %q passes", b, code)
			}
		}
	}
	for _, bad := range []string{"", "123", "12345678901", "abcdefghij", "7992739871x"} {
		if ValidMemberCode(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	if d := luhnCheckDigit("7992739871"); d != 3 { // the textbook example 79927398713
		t.Errorf("check digit of the textbook example = %d, want 3", d)
	}
}
