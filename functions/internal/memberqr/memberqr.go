// Package memberqr signs and reads the short-lived token a member's card shows as a QR code,
// so a cashier can credit a receipt without typing the member code. The token is an HS256
// JWT naming the member (sub), with its own id (jti) so that it can be used for one receipt
// only, signed with MEMBER_QR_SECRET.
package memberqr

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
)

// issuer and audience keep these tokens from being taken for any other JWT signed with the
// same key, and the other way round. Short, because every byte makes the QR code denser.
const (
	issuer   = "kk-loyalty"
	audience = "member-qr"
)

// tokenIDBytes of randomness give a jti that never repeats in practice (2^96).
const tokenIDBytes = 12

// Tokens issues and verifies member QR tokens.
type Tokens struct {
	key []byte
	// previous keys still verify during a rotation (MEMBER_QR_SECRET_PREVIOUS): a card shown
	// just before the switch stays good for its few minutes. Nothing is signed with them.
	previous [][]byte
}

// New returns Tokens signing with key and verifying with key or any of previous; a short key
// is refused, and empty previous keys are left out.
func New(key string, previous ...string) (*Tokens, error) {
	if len(key) < 32 {
		return nil, errors.New("MEMBER_QR_SECRET must be at least 32 characters")
	}
	t := &Tokens{key: []byte(key)}
	for _, p := range previous {
		switch {
		case p == "":
		case len(p) < 32:
			return nil, errors.New("MEMBER_QR_SECRET_PREVIOUS must be at least 32 characters")
		default:
			t.previous = append(t.previous, []byte(p))
		}
	}
	return t, nil
}

var _ loyalty.QRTokens = (*Tokens)(nil)

// IssueMemberQR signs a token for memberID valid until expires. It has no iat or nbf: only
// exp bounds it, so pods whose clocks differ by a little never refuse a fresh token.
func (t *Tokens) IssueMemberQR(memberID string, _, expires time.Time) (string, error) {
	id := make([]byte, tokenIDBytes)
	if _, err := rand.Read(id); err != nil {
		return "", err
	}
	tok, err := jwt.NewBuilder().Issuer(issuer).Audience([]string{audience}).Subject(memberID).
		JwtID(base64.RawURLEncoding.EncodeToString(id)).Expiration(expires).Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, t.key))
	return string(signed), err
}

// Skew is how far ahead of the reading pod's clock the issuing pod's may run: a fresh token
// may expire up to maxLifetime plus Skew from now.
const Skew = 30 * time.Second

// invalidMessage is the one answer to any token that is not ours: what exactly is wrong
// with it (jwx's words) would only help whoever is crafting it. The log has the detail.
const invalidMessage = "not a member QR code of this programme: ask the member to show their card again"

// VerifyMemberQR returns the member a token names and the token's id: qr_expired once it has
// expired (no leeway: the same fleet issues and reads them), qr_invalid for anything not
// signed by us with HS256 for this purpose, lacking exp, jti or a uuid sub, or living longer
// than maxLifetime (the programme's qr_token_ttl_seconds) plus Skew: we never issue those, so
// one is a forgery made with a leaked key, or a card kept from before the TTL was lowered.
func (t *Tokens) VerifyMemberQR(token string, now time.Time, maxLifetime time.Duration) (loyalty.MemberQR, error) {
	tok, err := t.parse(token, t.key, now)
	for _, key := range t.previous {
		if err == nil || !jws.IsVerificationError(err) {
			break // verified (and maybe expired or malformed): another key would change nothing
		}
		tok, err = t.parse(token, key, now)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenExpired()):
		return loyalty.MemberQR{}, &loyalty.Error{Code: loyalty.CodeQRExpired, Message: "the member's QR code has expired: ask them to refresh their card"}
	case err != nil:
		return loyalty.MemberQR{}, invalid(err)
	case tok.Subject() == "" || tok.JwtID() == "":
		return loyalty.MemberQR{}, invalid(errors.New("no sub or no jti"))
	case tok.Expiration().Sub(now) > maxLifetime+Skew:
		return loyalty.MemberQR{}, invalid(fmt.Errorf("expires %s from now, beyond the TTL of %s", tok.Expiration().Sub(now), maxLifetime))
	}
	// members.id is a uuid: anything else would reach the database as a type error (a 500).
	if _, err := uuid.Parse(tok.Subject()); err != nil {
		return loyalty.MemberQR{}, invalid(errors.New("sub is not a uuid"))
	}
	return loyalty.MemberQR{MemberID: tok.Subject(), TokenID: tok.JwtID()}, nil
}

// invalid is the refusal of a token, with why for the refusal's log line (which names the
// caller and the request): the counter is told only that it is invalid.
func invalid(cause error) *loyalty.Error {
	return &loyalty.Error{Code: loyalty.CodeQRInvalid, Message: invalidMessage, LogDetail: cause.Error()}
}

func (t *Tokens) parse(token string, key []byte, now time.Time) (jwt.Token, error) {
	return jwt.Parse([]byte(token), jwt.WithKey(jwa.HS256, key), jwt.WithValidate(true),
		jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithRequiredClaim(jwt.ExpirationKey), jwt.WithRequiredClaim(jwt.JwtIDKey), jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })), jwt.WithAcceptableSkew(0))
}
