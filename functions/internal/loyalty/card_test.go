package loyalty_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/memberqr"
)

// newQRWorld is newWorld with member cards that carry QR tokens.
func newQRWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	qr, err := memberqr.New("a-test-key-of-at-least-32-characters")
	if err != nil {
		t.Fatal(err)
	}
	w.svc = loyalty.New(w.db, loyalty.WithClock(func() time.Time { return w.now }), loyalty.WithQRTokens(qr))
	return w
}

func TestTheMemberCardsQRCodeEarnsAtTheCounterUntilItExpires(t *testing.T) {
	w := newQRWorld(t)
	id, code := lt.Member(t, w.db)
	card := must[loyalty.MemberCardOutput](t)(w.svc.MemberCard(context.Background(), member(id), struct{}{}))
	if card.MemberCode != code || card.TierID != "member" || !card.ExpiresAt.Equal(w.now.Add(120*time.Second)) || card.QRToken == "" {
		t.Fatalf("card = %+v", card)
	}
	earn := func(receipt string) (loyalty.EarnPointsOutput, error) {
		return w.svc.EarnPoints(context.Background(), w.crew, loyalty.EarnPointsInput{StoreID: w.store, ReceiptNo: receipt, Amount: 1000, MemberQRToken: &card.QRToken})
	}
	out := must[loyalty.EarnPointsOutput](t)(earn("Q-1"))
	if out.MemberID != id || out.PointsEarned != 10 {
		t.Fatalf("earn by QR = %+v", out)
	}
	w.now = w.now.Add(121 * time.Second) // a second past expiry: no leeway
	_, err := earn("Q-2")
	wantCode(t, err, loyalty.CodeQRExpired)

	_, err = w.svc.MemberCard(context.Background(), member(uuid.NewString()), struct{}{})
	wantCode(t, err, loyalty.CodeNotRegistered)
	_, err = w.svc.MemberCard(context.Background(), w.crew, struct{}{})
	wantCode(t, err, loyalty.CodeForbidden)
}

func TestWithoutAQRKeyTheCardSaysWhatIsMissing(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	_, err := w.svc.MemberCard(context.Background(), member(id), struct{}{})
	wantCode(t, err, loyalty.CodeNotConfigured)
}
