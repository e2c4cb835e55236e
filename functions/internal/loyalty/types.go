package loyalty

import (
	"encoding/json"
	"fmt"
	"time"
)

// The inputs and outputs below are the actions' GraphQL types (hasura/metadata/actions.graphql);
// the json names are the GraphQL field names, and the contract test keeps the two in step.

// Date is a calendar date, written "2006-01-02" (GraphQL scalar date).
type Date struct{ time.Time }

func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a date must be a string like 2000-01-31")
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return fmt.Errorf("%q is not a date like 2000-01-31", s)
	}
	d.Time = t
	return nil
}

func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.Format(time.DateOnly)) }

type RegisterMemberInput struct {
	DisplayName string  `json:"displayName"`
	Email       *string `json:"email"`
	Phone       *string `json:"phone"`
	Birthday    *Date   `json:"birthday"`
	// ReferralCode is the code of the member who invited this one (optional).
	ReferralCode *string `json:"referralCode"`
}

type RegisterMemberOutput struct {
	MemberID      string `json:"memberId"`
	MemberCode    string `json:"memberCode"`
	TierID        string `json:"tierId"`
	PointsBalance int64  `json:"pointsBalance"`
	Created       bool   `json:"created"`
}

type EarnPointsInput struct {
	StoreID       string  `json:"storeId"`
	ReceiptNo     string  `json:"receiptNo"`
	Amount        int64   `json:"amount"`
	MemberQRToken *string `json:"memberQrToken"`
	MemberCode    *string `json:"memberCode"`
}

type EarnPointsOutput struct {
	TransactionID string `json:"transactionId"`
	MemberID      string `json:"memberId"`
	PointsEarned  int64  `json:"pointsEarned"`
	PointsBalance int64  `json:"pointsBalance"`
	TierID        string `json:"tierId"`
	Duplicate     bool   `json:"duplicate"`
	// CampaignIDs are the campaigns that applied to this earn; empty when none.
	CampaignIDs []string `json:"campaignIds"`
}

type RedeemRewardInput struct {
	RewardID       string `json:"rewardId"`
	IdempotencyKey string `json:"idempotencyKey"`
}

type RedeemRewardOutput struct {
	CouponID      string    `json:"couponId"`
	CouponCode    string    `json:"couponCode"`
	ExpiresAt     time.Time `json:"expiresAt"`
	PointsSpent   int64     `json:"pointsSpent"`
	PointsBalance int64     `json:"pointsBalance"`
}

type UseCouponInput struct {
	StoreID    string `json:"storeId"`
	CouponCode string `json:"couponCode"`
}

type UseCouponOutput struct {
	CouponID   string    `json:"couponId"`
	RewardID   string    `json:"rewardId"`
	RewardName string    `json:"rewardName"`
	MemberID   string    `json:"memberId"`
	UsedAt     time.Time `json:"usedAt"`
}

type RefundOrderInput struct {
	StoreID   string `json:"storeId"`
	ReceiptNo string `json:"receiptNo"`
	// Amount is the part refunded now; nil refunds whatever is left of the order.
	Amount *int64  `json:"amount"`
	Reason *string `json:"reason"`
	// IdempotencyKey, when given, makes a repeat of this call (same receipt and key) answer
	// the first result and refund nothing more.
	IdempotencyKey *string `json:"idempotencyKey"`
}

type RefundOrderOutput struct {
	// TransactionID is the ledger entry of this refund; nil when it reversed no points (the
	// order had no member, earned nothing, or this part rounds down to nothing).
	TransactionID  *string `json:"transactionId"`
	PointsReversed int64   `json:"pointsReversed"`
	// PointsBalance is the member's balance afterwards; nil for an order without a member.
	PointsBalance *int64 `json:"pointsBalance"`
}

type AdjustPointsInput struct {
	MemberID       string `json:"memberId"`
	Points         int64  `json:"points"`
	Reason         string `json:"reason"`
	IdempotencyKey string `json:"idempotencyKey"`
}

type AdjustPointsOutput struct {
	TransactionID string `json:"transactionId"`
	PointsBalance int64  `json:"pointsBalance"`
}
