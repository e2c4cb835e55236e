package loyalty

import "time"

// MemberCardOutput is what the app shows as the member's card.
type MemberCardOutput struct {
	MemberCode    string    `json:"memberCode"`
	QRToken       string    `json:"qrToken"`
	ExpiresAt     time.Time `json:"expiresAt"`
	PointsBalance int64     `json:"pointsBalance"`
	TierID        string    `json:"tierId"`
}

// DeleteMyAccountOutput confirms an account deletion.
type DeleteMyAccountOutput struct {
	Deleted bool `json:"deleted"`
}
