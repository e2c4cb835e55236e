// Package loyalty holds the business rules of the points programme: earning, redeeming,
// coupons, refunds, adjustments, bonuses, expiry and tiers. Every operation is one Postgres
// transaction. It knows nothing about HTTP or Hasura.
package loyalty

import "fmt"

// Code is a stable error code the app can act on. The set is part of the public API.
type Code string

const (
	CodeForbidden          Code = "forbidden"
	CodeInvalidInput       Code = "invalid_input"
	CodeNotFound           Code = "not_found"
	CodeNotRegistered      Code = "not_registered"
	CodeInsufficientPoints Code = "insufficient_points"
	CodeRewardUnavailable  Code = "reward_unavailable"
	CodeOutOfStock         Code = "out_of_stock"
	CodeLimitReached       Code = "limit_reached"
	CodeTierTooLow         Code = "tier_too_low"
	CodeCouponExpired      Code = "coupon_expired"
	CodeCouponUsed         Code = "coupon_used"
	CodeCouponWrongStore   Code = "coupon_wrong_store"
	CodeReceiptConflict    Code = "receipt_conflict"
	CodeOrderOverLimit     Code = "order_over_limit"
	CodeQRExpired          Code = "qr_expired"
	CodeQRInvalid          Code = "qr_invalid"
	CodeReferralInvalid    Code = "referral_invalid"
	// CodeNotConfigured: the feature needs a setting this deployment lacks.
	CodeNotConfigured Code = "not_configured"
)

// Error is a refusal the caller can act on. Nothing was changed when one is returned.
type Error struct {
	Code    Code
	Message string
	// LogDetail, when set, is why, for the log line of the refusal only: what the caller is
	// told stays Message (a QR token's verifier says which check failed; the counter is told
	// only that the code is invalid).
	LogDetail string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func fail(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *Error { return fail(CodeInvalidInput, format, args...) }
