// Package memberqr signs and reads the short-lived token a member's card shows as a QR code,
// so a cashier can credit a receipt without typing the member code. The token is an HS256
// JWT naming the member, signed with MEMBER_QR_SECRET.
package memberqr

import (
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
)

// issuer and audience keep these tokens from being taken for any other JWT signed with the
// same key, and the other way round.
const (
	issuer   = "kaiser-kitchen-loyalty"
	audience = "member-qr"
)

// Tokens issues and verifies member QR tokens.
type Tokens struct{ key []byte }

// New returns Tokens signing with key; a short key is refused.
func New(key string) (*Tokens, error) {
	if len(key) < 32 {
		return nil, errors.New("MEMBER_QR_SECRET must be at least 32 characters")
	}
	return &Tokens{key: []byte(key)}, nil
}

var _ loyalty.QRTokens = (*Tokens)(nil)

// IssueMemberQR signs a token for memberID valid until expires.
func (t *Tokens) IssueMemberQR(memberID string, now, expires time.Time) (string, error) {
	tok, err := jwt.NewBuilder().Issuer(issuer).Audience([]string{audience}).Subject(memberID).
		IssuedAt(now).Expiration(expires).Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, t.key))
	return string(signed), err
}

// VerifyMemberQR returns the member a token names: qr_expired once it has expired, qr_invalid
// for anything not signed by us for this purpose.
func (t *Tokens) VerifyMemberQR(token string, now time.Time) (string, error) {
	tok, err := jwt.Parse([]byte(token), jwt.WithKey(jwa.HS256, t.key), jwt.WithValidate(true),
		jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })), jwt.WithAcceptableSkew(5*time.Second))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired()):
		return "", &loyalty.Error{Code: loyalty.CodeQRExpired, Message: "the member's QR code has expired: ask them to refresh their card"}
	case err != nil:
		return "", &loyalty.Error{Code: loyalty.CodeQRInvalid, Message: fmt.Sprintf("not a member QR code of this programme (%v)", err)}
	case tok.Subject() == "":
		return "", &loyalty.Error{Code: loyalty.CodeQRInvalid, Message: "the QR code names no member"}
	}
	return tok.Subject(), nil
}
