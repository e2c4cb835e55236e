package loyalty

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

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

// MemberCard returns the caller's card with a fresh QR token, valid qr_token_ttl_seconds.
func (s *Service) MemberCard(ctx context.Context, c Caller, _ struct{}) (MemberCardOutput, error) {
	id, err := c.memberID()
	if err != nil {
		return MemberCardOutput{}, err
	}
	if s.qr == nil {
		return MemberCardOutput{}, fail(CodeNotConfigured, "member QR codes are not enabled here: MEMBER_QR_SECRET is not set")
	}
	now := s.clock()
	var out MemberCardOutput
	var ttl int
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			SELECT m.member_code, m.points_balance, m.tier_id, s.qr_token_ttl_seconds
			FROM members m CROSS JOIN program_settings s
			WHERE m.id = $1 AND m.deleted_at IS NULL`, id).Scan(&out.MemberCode, &out.PointsBalance, &out.TierID, &ttl)
		if err == pgx.ErrNoRows {
			return fail(CodeNotRegistered, "register as a member first")
		}
		return err
	})
	if err != nil {
		return MemberCardOutput{}, err
	}
	out.ExpiresAt = now.Add(time.Duration(ttl) * time.Second)
	out.QRToken, err = s.qr.IssueMemberQR(id, now, out.ExpiresAt)
	return out, err
}
