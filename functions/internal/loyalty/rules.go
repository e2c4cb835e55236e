package loyalty

import (
	"crypto/rand"
	"fmt"
	"math"
	"math/big"
	"sort"
	"sync"
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
	// Referrals: what the referrer and the new member get on the new member's first order of
	// at least ReferralMinAmount; ReferralYearlyLimit (nil: none) caps a referrer's paid
	// referrals per calendar year.
	ReferralBonusPoints int64
	RefereeBonusPoints  int64
	ReferralMinAmount   int64
	ReferralYearlyLimit *int
	// ExpiryReminderDays is how far ahead expiry reminders look; 0: off.
	ExpiryReminderDays int
	// A caller whose earnPoints named more than MemberLookupMissLimit unknown member codes in
	// the last MemberLookupMissWindow is refused until the window has moved on.
	MemberLookupMissLimit  int
	MemberLookupMissWindow time.Duration
}

// Today is the date of now in the programme's time zone, as midnight UTC of that date (the
// form dates are parsed into), for date rules.
func (s Settings) Today(now time.Time) (time.Time, error) {
	loc, err := s.Location()
	if err != nil {
		return time.Time{}, err
	}
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}

// Location is the programme's time zone, in which every date rule is read.
func (s Settings) Location() (*time.Location, error) {
	loc, err := location(s.Timezone)
	if err != nil {
		return nil, fmt.Errorf("program_settings.timezone %q: %w", s.Timezone, err)
	}
	return loc, nil
}

var locations sync.Map // name -> *time.Location

// location is time.LoadLocation, cached: it reads the zone database on every call.
func location(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

// PointsFor is what an order of amount earns at a tier's multiplier (100 = x1) with no
// campaign: floor(floor(amount / unit) * perUnit * multiplierPct / 100).
func PointsFor(amount int64, s Settings, multiplierPct int) int64 {
	points, _ := ApplyCampaigns(BasePoints(amount, s), multiplierPct, nil)
	return points
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

// mulDiv is floor(a*b/c) for non-negative a, b and positive c, without overflow in a*b. A
// result beyond int64 saturates at math.MaxInt64 instead of wrapping, so it is refused as out
// of range where it is posted (post) rather than turned into a small or negative number.
func mulDiv(a, b, c int64) int64 {
	var r big.Int
	r.Mul(big.NewInt(a), big.NewInt(b)).Quo(&r, big.NewInt(c))
	if !r.IsInt64() {
		return math.MaxInt64
	}
	return r.Int64()
}

// The range of every amount, points figure and balance: GraphQL's Int, 32-bit signed.
const (
	MinInt = math.MinInt32
	MaxInt = math.MaxInt32
)

// inIntRange tells whether v fits GraphQL's Int.
func inIntRange(v int64) bool { return v >= MinInt && v <= MaxInt }

// Lot is what is left of one credit.
type Lot struct {
	ID string
	// TransactionID is the ledger entry (earn, bonus, adjust) that opened the lot.
	TransactionID string
	Remaining     int64
	ExpiresAt     time.Time
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

// AllocateReversal takes back points for a refund of the credit posted as entry: first what
// is left of the lot that credit opened, then from the lots that expire first. Taking the
// soonest-expiring lot instead would let a member renew points about to expire by buying and
// refunding. The second result is what could not be covered.
func AllocateReversal(lots []Lot, points int64, entry string) ([]Take, int64) {
	var own []Take
	rest := make([]Lot, 0, len(lots))
	for _, l := range lots {
		if l.TransactionID == entry && entry != "" && points > 0 && l.Remaining > 0 {
			n := min(l.Remaining, points)
			own = append(own, Take{LotID: l.ID, Points: n})
			points -= n
			l.Remaining -= n
		}
		rest = append(rest, l)
	}
	takes, short := AllocateFIFO(rest, points)
	return append(own, takes...), short
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
