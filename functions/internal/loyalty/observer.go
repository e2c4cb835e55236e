package loyalty

// Observer learns what the programme did, once each effect is committed: business counters
// for dashboards (points earned, spent, expired; coupons issued, used, expired). It is told
// nothing about a retry or a duplicate that changed nothing, so a count is what happened.
type Observer interface {
	// Points: points of a ledger kind (KindEarn, KindRedeem, KindExpire...) moved, as a
	// positive number.
	Points(kind string, points int64)
	// Coupons: coupons changed state (CouponIssued, CouponUsed, CouponExpired).
	Coupons(event string, n int)
}

// Coupon events told to an Observer.
const (
	CouponIssued  = "issued"
	CouponUsed    = "used"
	CouponExpired = "expired"
)

// WithObserver tells o what the service commits.
func WithObserver(o Observer) Option { return func(s *Service) { s.observer = o } }

type noObserver struct{}

func (noObserver) Points(string, int64) {}
func (noObserver) Coupons(string, int)  {}
