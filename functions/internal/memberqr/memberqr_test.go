package memberqr

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
)

const key = "0123456789abcdef0123456789abcdef"

// ttl is the programme's qr_token_ttl_seconds in these tests: longer than any token they issue.
const ttl = 2 * time.Hour

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func code(err error) loyalty.Code {
	var le *loyalty.Error
	if errors.As(err, &le) {
		return le.Code
	}
	return ""
}

func issue(t *testing.T, q *Tokens, member string, expires time.Time) string {
	t.Helper()
	tok, err := q.IssueMemberQR(member, now, expires)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const memberID = "5f0c3a52-8a4e-4d57-9d0a-4f1b8a6e2c11"

func TestATokenNamesItsMemberAndItselfUntilItExpires(t *testing.T) {
	q, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	expires := now.Add(2 * time.Minute)
	tok := issue(t, q, memberID, expires)
	got, err := q.VerifyMemberQR(tok, now.Add(time.Minute), ttl)
	if err != nil || got.MemberID != memberID || got.TokenID == "" {
		t.Fatalf("within its life: %+v, %v", got, err)
	}
	if got, err := q.VerifyMemberQR(tok, expires.Add(-time.Second), ttl); err != nil || got.MemberID != memberID {
		t.Fatalf("a second before expiry: %+v, %v", got, err)
	}
	if _, err := q.VerifyMemberQR(tok, expires.Add(time.Second), ttl); code(err) != loyalty.CodeQRExpired {
		t.Fatalf("expired by one second: %v; want qr_expired", err)
	}
}

func TestEveryTokenHasItsOwnIDAndIsShortEnoughToScan(t *testing.T) {
	q, _ := New(key)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		tok := issue(t, q, memberID, now.Add(time.Hour))
		if len(tok) >= 300 {
			t.Fatalf("token of %d characters; a phone scans under 300 reliably: %s", len(tok), tok)
		}
		got, err := q.VerifyMemberQR(tok, now, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if seen[got.TokenID] {
			t.Fatalf("token id %s issued twice", got.TokenID)
		}
		seen[got.TokenID] = true
	}
}

// forge signs claims with alg and key, as an attacker holding that key could.
func forge(t *testing.T, alg jwa.SignatureAlgorithm, signingKey any, build func(*jwt.Builder) *jwt.Builder) string {
	t.Helper()
	tok, err := build(jwt.NewBuilder().Issuer(issuer).Audience([]string{audience}).Subject(memberID).
		JwtID("forged-id").Expiration(now.Add(time.Minute))).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, signingKey))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func same(b *jwt.Builder) *jwt.Builder { return b }

func TestTokensNotSignedByUsForThisPurposeAreInvalid(t *testing.T) {
	q, _ := New(key)
	other, _ := New(strings.Repeat("x", 32))
	good := issue(t, q, memberID, now.Add(time.Minute))
	parts := strings.Split(good, ".")

	// The payload rewritten to name another member, the signature kept.
	var claims map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = "00000000-0000-4000-8000-000000000666"
	rewritten, _ := json.Marshal(claims)
	tamperedPayload := parts[0] + "." + base64.RawURLEncoding.EncodeToString(rewritten) + "." + parts[2]

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	unsignedHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))

	for name, tok := range map[string]string{
		"signed with another key":               issue(t, other, memberID, now.Add(time.Minute)),
		"payload tampered":                      tamperedPayload,
		"signature tampered":                    good[:len(good)-3] + "abc",
		"alg none, no signature":                unsignedHeader + "." + parts[1] + ".",
		"alg none, the real signature":          unsignedHeader + "." + parts[1] + "." + parts[2],
		"RS256 with an attacker's RSA key":      forge(t, jwa.RS256, rsaKey, same),
		"HS512 with our own key (alg not ours)": forge(t, jwa.HS512, []byte(key), same),
		"another issuer":                        forge(t, jwa.HS256, []byte(key), func(b *jwt.Builder) *jwt.Builder { return b.Issuer("someone-else") }),
		"another audience":                      forge(t, jwa.HS256, []byte(key), func(b *jwt.Builder) *jwt.Builder { return b.Audience([]string{"api"}) }),
		"no jti":                                forge(t, jwa.HS256, []byte(key), func(b *jwt.Builder) *jwt.Builder { return b.JwtID("") }),
		"no subject":                            forge(t, jwa.HS256, []byte(key), func(b *jwt.Builder) *jwt.Builder { return b.Subject("") }),
		"a subject that is not a uuid":          forge(t, jwa.HS256, []byte(key), func(b *jwt.Builder) *jwt.Builder { return b.Subject("1 OR 1=1") }),
		"valid far longer than the TTL":         forge(t, jwa.HS256, []byte(key), func(b *jwt.Builder) *jwt.Builder { return b.Expiration(now.Add(10 * 365 * 24 * time.Hour)) }),
		"not a token":                           "0123456789",
		"empty":                                 "",
	} {
		_, err := q.VerifyMemberQR(tok, now, ttl)
		if code(err) != loyalty.CodeQRInvalid {
			t.Errorf("%s: %v; want qr_invalid", name, err)
		}
		// One fixed answer: what jwx found wrong would guide whoever crafts the next try.
		if le := (*loyalty.Error)(nil); errors.As(err, &le) && le.Message != invalidMessage {
			t.Errorf("%s: message %q; want the fixed one", name, le.Message)
		}
	}
	// A token without exp would never expire.
	tok, _ := jwt.NewBuilder().Issuer(issuer).Audience([]string{audience}).Subject(memberID).JwtID("x").Build()
	forever, _ := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(key)))
	if _, err := q.VerifyMemberQR(string(forever), now, ttl); code(err) != loyalty.CodeQRInvalid {
		t.Errorf("no exp: %v; want qr_invalid", err)
	}
	// The forging helper itself makes tokens we accept when nothing is wrong with them.
	if got, err := q.VerifyMemberQR(forge(t, jwa.HS256, []byte(key), same), now, ttl); err != nil || got.TokenID != "forged-id" {
		t.Fatalf("a well-formed token signed with our key: %+v, %v", got, err)
	}
}

func TestAShortKeyIsRefused(t *testing.T) {
	if _, err := New("short"); err == nil || !strings.Contains(err.Error(), "MEMBER_QR_SECRET") {
		t.Fatalf("err = %v", err)
	}
}

// Tokens are issued for qr_token_ttl_seconds; one valid for longer was not issued by us as
// the programme stands. Pods' clocks may differ by up to Skew.
func TestATokenLivingLongerThanTheTTLPlusSkewIsInvalid(t *testing.T) {
	q, _ := New(key)
	const programmeTTL = 5 * time.Minute
	for _, c := range []struct {
		name    string
		expires time.Time
		want    loyalty.Code
	}{
		{"exactly the TTL", now.Add(programmeTTL), ""},
		{"the TTL plus the skew", now.Add(programmeTTL + Skew), ""},
		{"a second beyond the TTL plus the skew", now.Add(programmeTTL + Skew + time.Second), loyalty.CodeQRInvalid},
		{"a day", now.Add(24 * time.Hour), loyalty.CodeQRInvalid},
	} {
		_, err := q.VerifyMemberQR(issue(t, q, memberID, c.expires), now, programmeTTL)
		if code(err) != c.want {
			t.Errorf("%s: %v; want %q", c.name, err, c.want)
		}
	}
}
