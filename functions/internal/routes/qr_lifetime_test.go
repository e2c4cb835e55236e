package routes_test

import (
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/memberqr"
)

// earnPoints bounds a QR token's life by program_settings.qr_token_ttl_seconds: a token
// signed with our key but valid for a day (made with a leaked key, or kept from before the
// TTL was lowered) is qr_invalid, and lowering the TTL takes effect without a restart.
func TestEarnPointsRefusesAQRTokenLivingLongerThanTheProgrammesTTL(t *testing.T) {
	tokens, err := memberqr.New("a member QR key of at least 32 characters")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, loyalty.WithQRTokens(tokens))
	id, _ := lt.Member(t, w.db)
	lt.Exec(t, w.db, `UPDATE program_settings SET qr_token_ttl_seconds = 120 WHERE id = 1`)
	now := time.Now()
	issue := func(expires time.Time) string {
		t.Helper()
		tok, err := tokens.IssueMemberQR(id, now, expires)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	earn := func(receipt, token string) in {
		return in{"storeId": w.store, "receiptNo": receipt, "amount": 2000, "memberQrToken": token}
	}
	w.refuseAll(t, "earnPoints", []refusal{
		{"a token valid for a day is qr_invalid", earn("L-1", issue(now.Add(24*time.Hour))), staff(w.crew), loyalty.CodeQRInvalid},
		{"a token valid for twice the TTL is qr_invalid", earn("L-1", issue(now.Add(4*time.Minute))), staff(w.crew), loyalty.CodeQRInvalid},
	})
	if out := call[loyalty.EarnPointsOutput](t, w, "earnPoints", earn("L-1", issue(now.Add(2*time.Minute))), staff(w.crew)); out.MemberID != id {
		t.Fatalf("a token of the TTL: %+v", out)
	}
	lt.Exec(t, w.db, `UPDATE program_settings SET qr_token_ttl_seconds = 30 WHERE id = 1`)
	w.refuseAll(t, "earnPoints", []refusal{
		{"after the TTL was lowered, a card of the old TTL is qr_invalid", earn("L-2", issue(now.Add(2*time.Minute))), staff(w.crew), loyalty.CodeQRInvalid},
	})
}
