package loyalty_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/memberqr"
)

// A failure at any step of the database part (each write it makes fails in turn, as a lost
// connection or a full disk would fail it) changes nothing: no step before it stays done, the
// Cognito user is kept, and the answer is not a refusal, so the app retries. Once the fault is
// gone, the retry does the whole deletion, as if the first call had never run.
func TestADeletionThatFailsAtAnyStepInTheDatabaseChangesNothingAndARetryFinishesIt(t *testing.T) {
	steps := []struct{ name, table, op string }{
		{"deactivating the staff rows", "staff", "UPDATE"},
		{"cancelling the live coupons", "coupons", "UPDATE"},
		{"giving the stock back", "rewards", "UPDATE"},
		{"writing the balance off", "point_transactions", "INSERT"},
		{"emptying the lots", "point_lots", "UPDATE"},
		{"anonymising the member", "members", "UPDATE"},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			a := newAccounts(t)
			id, code := a.signUp(t, "aiko")
			must[loyalty.EarnPointsOutput](t)(a.earn(code, "R-1", 50_000))
			a.redeem(t, id, lt.RewardSpec{Cost: 100, Stock: ptr(5)})
			lt.Exec(t, a.db, `INSERT INTO staff (user_id, store_id, role) VALUES ($1, $2, 'crew')`, id, a.store)

			lt.Exec(t, a.db, `CREATE FUNCTION fail_step() RETURNS trigger LANGUAGE plpgsql AS
				$$BEGIN RAISE EXCEPTION 'injected failure on %', TG_TABLE_NAME; END$$`)
			lt.Exec(t, a.db, `CREATE TRIGGER fail_step BEFORE `+step.op+` ON `+step.table+` FOR EACH ROW EXECUTE FUNCTION fail_step()`)
			before := snapshot(t, a.world)
			activeStaff := func() int64 {
				return lt.Count(t, a.db, `SELECT count(*) FROM staff WHERE user_id = $1 AND active`, id)
			}

			_, err := a.svc.DeleteMyAccount(context.Background(), member(id), struct{}{})
			var refusal *loyalty.Error
			if err == nil || errors.As(err, &refusal) {
				t.Fatalf("deleteMyAccount with %s failing = %v; want an error that is not a refusal", step.name, err)
			}
			unchanged(t, a.world, before)
			if activeStaff() != 1 {
				t.Error("the staff row was deactivated by a deletion that failed")
			}
			if !a.local.HasUser(t, a.pool, "aiko") {
				t.Fatal("the Cognito user was deleted by a deletion whose database part failed")
			}

			lt.Exec(t, a.db, `DROP TRIGGER fail_step ON `+step.table)
			a.now = a.now.Add(time.Minute)
			a.deleteAccount(t, id)
			if m := readMember(t, a.world, id); m.DeletedAt == nil || m.Balance != 0 || m.Email != nil {
				t.Errorf("member after the retry = %+v; want deleted, balance 0, no e-mail", m)
			}
			if activeStaff() != 0 {
				t.Error("the retry left the staff row active")
			}
			if a.local.HasUser(t, a.pool, "aiko") {
				t.Error("the retry left the Cognito user")
			}
		})
	}
}

// A card on the member's phone when they delete their account: its token is still signed and
// unexpired, but it names nobody now, so the counter gets not_found and nothing is written.
func TestACardShownAfterItsAccountWasDeletedEarnsNothing(t *testing.T) {
	a := newAccounts(t)
	qr, err := memberqr.New("a-test-key-of-at-least-32-characters")
	if err != nil {
		t.Fatal(err)
	}
	a.svc = loyalty.New(a.db, loyalty.WithClock(func() time.Time { return a.now }),
		loyalty.WithAccountDirectory(a.local.Directory(t, a.pool)), loyalty.WithQRTokens(qr))
	id, _ := a.signUp(t, "aiko")
	card := must[loyalty.MemberCardOutput](t)(a.svc.MemberCard(context.Background(), member(id), struct{}{}))

	a.deleteAccount(t, id)
	a.now = a.now.Add(10 * time.Second) // well within the token's lifetime
	before := snapshot(t, a.world)
	_, err = a.svc.EarnPoints(context.Background(), a.crew, loyalty.EarnPointsInput{
		StoreID: a.store, ReceiptNo: "R-" + uuid.NewString()[:8], Amount: 1000, MemberQRToken: &card.QRToken})
	wantCode(t, err, loyalty.CodeNotFound)
	unchanged(t, a.world, before)
}
