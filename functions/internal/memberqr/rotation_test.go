package memberqr

import (
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
)

// A rotation of MEMBER_QR_SECRET: while the old key is configured as previous, cards issued
// before the switch still read; new cards are signed with the new key only.
func TestRotationVerifiesWithEitherKeyAndSignsWithTheNew(t *testing.T) {
	const oldKey, newKey = "old-member-qr-key-0123456789abcdef", "new-member-qr-key-0123456789abcdef"
	before, err := New(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	during, err := New(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	after, err := New(newKey)
	if err != nil {
		t.Fatal(err)
	}
	exp := now.Add(2 * time.Minute)
	oldCard := issue(t, before, memberID, exp)
	newCard := issue(t, during, memberID, exp)

	for _, c := range []struct {
		name  string
		by    *Tokens
		token string
		want  loyalty.Code // "" = accepted
	}{
		{"during: a card of the old key reads", during, oldCard, ""},
		{"during: a card of the new key reads", during, newCard, ""},
		{"before: a card of the new key is refused (it was signed with the new key, not the old)", before, newCard, loyalty.CodeQRInvalid},
		{"after: a card of the old key is refused", after, oldCard, loyalty.CodeQRInvalid},
		{"after: a card of the new key reads", after, newCard, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.by.VerifyMemberQR(c.token, now, ttl)
			if code(err) != c.want || (c.want == "" && (err != nil || got.MemberID != memberID)) {
				t.Fatalf("got %+v, %v; want code %q", got, err, c.want)
			}
		})
	}
	// An expired card of the old key says expired, not invalid, during the switch.
	if _, err := during.VerifyMemberQR(oldCard, exp.Add(time.Second), ttl); code(err) != loyalty.CodeQRExpired {
		t.Fatalf("expired old card: %v; want qr_expired", err)
	}
	if _, err := New(newKey, "short"); err == nil {
		t.Fatal("a short previous key was accepted")
	}
	if q, err := New(newKey, ""); err != nil || len(q.previous) != 0 {
		t.Fatalf("an empty previous key: %v, %d keys; want it left out", err, len(q.previous))
	}
}
