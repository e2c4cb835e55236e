package loyalty

import (
	"crypto/rand"
	"math/big"
	"sort"
	"time"
)

// Settings are the operator-tuned numbers of program_settings.
type Settings struct {
	EarnSpendUnit       int64
	EarnPointsPerUnit   int64
	PointsValidityDays  int
	WelcomeBonusPoints  int64
	BirthdayBonusPoints int64
	MaxOrderAmount      int64
	QRTokenTTLSeconds   int
	Timezone            string
}

// PointsFor is what an order of amount earns at a tier's multiplier (100 = x1):
// floor(floor(amount / unit) * perUnit * multiplierPct / 100).
func PointsFor(amount int64, s Settings, multiplierPct int) int64 {
	if amount <= 0 || s.EarnSpendUnit <= 0 {
		return 0
	}
	base := (amount / s.EarnSpendUnit) * s.EarnPointsPerUnit
	return mulDiv(base, int64(multiplierPct), 100)
}

// RefundTarget is how many of the points an order earned a refund of refunded (out of amount)
// reverses in total: all of them once fully refunded, otherwise the proportion rounded down,
// so that partial refunds, whatever their number, never reverse more than the order earned.
func RefundTarget(earned, amount, refunded int64) int64 {
	if earned <= 0 || refunded <= 0 || amount <= 0 {
		return 0
	}
	if refunded >= amount {
		return earned
	}
	return mulDiv(earned, refunded, amount)
}

// mulDiv is floor(a*b/c) for non-negative a, b and positive c, without overflow in a*b.
func mulDiv(a, b, c int64) int64 {
	var r big.Int
	r.Mul(big.NewInt(a), big.NewInt(b)).Quo(&r, big.NewInt(c))
	return r.Int64()
}

// Lot is what is left of one credit.
type Lot struct {
	ID        string
	Remaining int64
	ExpiresAt time.Time
}

// Take is how much to take from one lot.
type Take struct {
	LotID  string
	Points int64
}

// AllocateFIFO takes points from the lots that expire first (ties by id, so the order is
// total). It takes at most what the lots hold; the second result is what could not be covered.
func AllocateFIFO(lots []Lot, points int64) ([]Take, int64) {
	sorted := append([]Lot(nil), lots...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if !sorted[i].ExpiresAt.Equal(sorted[j].ExpiresAt) {
			return sorted[i].ExpiresAt.Before(sorted[j].ExpiresAt)
		}
		return sorted[i].ID < sorted[j].ID
	})
	var takes []Take
	for _, l := range sorted {
		if points <= 0 {
			break
		}
		if l.Remaining <= 0 {
			continue
		}
		n := min(l.Remaining, points)
		takes = append(takes, Take{LotID: l.ID, Points: n})
		points -= n
	}
	return takes, points
}

// Tier is one membership tier.
type Tier struct {
	ID            string
	Rank          int
	MinPoints     int64
	MultiplierPct int
}

// TierFor is the highest-ranked tier whose min_points the points earned in the last 365 days
// reach. ok is false when no tier qualifies (no tier with min_points 0).
func TierFor(tiers []Tier, earned int64) (best Tier, ok bool) {
	for _, t := range tiers {
		if t.MinPoints <= earned && (!ok || t.Rank > best.Rank) {
			best, ok = t, true
		}
	}
	return best, ok
}

// CouponAlphabet has no look-alike characters: no 0/O, 1/I/L, or U (read as V).
const CouponAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"

// CouponCodeLength gives 30^8 ≈ 6.6e11 codes: short to read out, long enough not to guess.
const CouponCodeLength = 8

// NewCouponCode draws a code uniformly from CouponAlphabet.
func NewCouponCode() string { return randomString(CouponAlphabet, CouponCodeLength) }

// NormalizeCouponCode reads a code as a cashier may type it: any case, with spaces or dashes.
func NormalizeCouponCode(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}

// NewMemberCode draws 9 random digits and appends their Luhn check digit, so a mistyped
// card number is caught at the counter.
func NewMemberCode() string {
	body := randomString("0123456789", 9)
	return body + string(rune('0'+luhnCheckDigit(body)))
}

// ValidMemberCode tells whether s is 10 digits with a correct Luhn check digit.
func ValidMemberCode(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return int(s[9]-'0') == luhnCheckDigit(s[:9])
}

func luhnCheckDigit(digits string) int {
	sum := 0
	double := true // the check digit will sit to the right, so the last body digit doubles
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return (10 - sum%10) % 10
}

func randomString(alphabet string, n int) string {
	max := big.NewInt(int64(len(alphabet)))
	out := make([]byte, n)
	for i := range out {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out)
}
