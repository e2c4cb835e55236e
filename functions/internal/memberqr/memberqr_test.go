package memberqr

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
)

const key = "0123456789abcdef0123456789abcdef"

func code(err error) loyalty.Code {
	var le *loyalty.Error
	if errors.As(err, &le) {
		return le.Code
	}
	return ""
}

func TestATokenNamesItsMemberUntilItExpires(t *testing.T) {
	q, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tok, err := q.IssueMemberQR("member-1", now, now.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := q.VerifyMemberQR(tok, now.Add(time.Minute)); err != nil || id != "member-1" {
		t.Fatalf("within its life: %q, %v", id, err)
	}
	if _, err := q.VerifyMemberQR(tok, now.Add(3*time.Minute)); code(err) != loyalty.CodeQRExpired {
		t.Fatalf("after expiry: %v; want qr_expired", err)
	}
}

func TestTokensNotSignedByUsForThisPurposeAreInvalid(t *testing.T) {
	q, _ := New(key)
	other, _ := New(strings.Repeat("x", 32))
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	foreign, _ := other.IssueMemberQR("member-1", now, now.Add(time.Minute))
	good, _ := q.IssueMemberQR("member-1", now, now.Add(time.Minute))
	tampered := good[:len(good)-3] + "abc"
	for name, tok := range map[string]string{
		"signed with another key": foreign,
		"tampered":                tampered,
		"not a token":             "0123456789",
		"empty":                   "",
		"unsigned":                "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtZW1iZXItMSJ9.",
	} {
		if _, err := q.VerifyMemberQR(tok, now); code(err) != loyalty.CodeQRInvalid {
			t.Errorf("%s: %v; want qr_invalid", name, err)
		}
	}
}

func TestAShortKeyIsRefused(t *testing.T) {
	if _, err := New("short"); err == nil || !strings.Contains(err.Error(), "MEMBER_QR_SECRET") {
		t.Fatalf("err = %v", err)
	}
}
