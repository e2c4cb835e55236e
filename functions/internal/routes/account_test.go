package routes_test

// deleteMyAccount through HTTP as Hasura calls it, on a real PostgreSQL and a real local
// Cognito (cognito-local, through the real adapter). Without cognito-local these tests fail,
// saying how to install it.

import (
	"context"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/cognito"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/cognito/cognitotest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/server"
)

// cognitoWorld is a world whose service deletes accounts from a pool of a cognito-local.
type cognitoWorld struct {
	*world
	local *cognitotest.Local
	pool  string
}

func newCognitoWorld(t *testing.T) *cognitoWorld {
	t.Helper()
	local := cognitotest.Start(t)
	pool := local.NewPool(t)
	return &cognitoWorld{world: newWorld(t, loyalty.WithAccountDirectory(local.Directory(t, pool))), local: local, pool: pool}
}

// signUp creates the Cognito user and registers its member through registerMember, as the app
// does after sign-up; it returns the member id (the user's sub) and member code.
func (w *cognitoWorld) signUp(t *testing.T, username string) (id, code string) {
	t.Helper()
	id = w.local.NewUser(t, w.pool, username)
	out := call[loyalty.RegisterMemberOutput](t, w.world, "registerMember", in{"displayName": "Aiko", "email": username + "@example.com"}, member(id))
	return id, out.MemberCode
}

// deleteMyAccount posts the action as Hasura does for an action without arguments.
func deleteMyAccount(t *testing.T, session map[string]string) *http.Request {
	t.Helper()
	return hasuratest.ActionRequest(t, "deleteMyAccount", map[string]any{}, session)
}

func TestDeleteMyAccountThroughHasura(t *testing.T) {
	w := newCognitoWorld(t)
	id, code := w.signUp(t, "aiko")
	w.signUp(t, "bob")
	w.earn(t, staff(w.crew), w.store, "R-1", 10_000, code) // 100 points
	coupon := w.redeem(t, id, lt.Reward(t, w.db, lt.RewardSpec{Cost: 30}))

	rec := hasuratest.Do(t, w.h, deleteMyAccount(t, member(id)))
	if out := hasuratest.DecodeOutput[loyalty.DeleteMyAccountOutput](t, rec); !out.Deleted {
		t.Fatalf("answered %+v; want deleted true", out)
	}
	if got := strings.TrimSpace(rec.Body.String()); got != `{"deleted":true}` {
		t.Errorf("body %s; want {\"deleted\":true}", got)
	}
	if b := lt.Balance(t, w.db, id); b != 0 {
		t.Errorf("balance %d, want 0 (70 forfeited)", b)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1 AND kind = 'adjust' AND points = -70`, id); n != 1 {
		t.Errorf("%d forfeit entries of -70, want 1", n)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM coupons WHERE id = $1 AND status = 'cancelled'`, coupon.CouponID); n != 1 {
		t.Error("the live coupon is not cancelled")
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM members WHERE id = $1 AND deleted_at IS NOT NULL AND email IS NULL AND display_name = $2`, id, loyalty.DeletedDisplayName); n != 1 {
		t.Errorf("the member row is not anonymised: %s", w.memberRow(t, id))
	}
	if w.local.HasUser(t, w.pool, "aiko") {
		t.Error("the Cognito user is still in the pool")
	}
	if !w.local.HasUser(t, w.pool, "bob") {
		t.Error("another member's Cognito user was deleted")
	}

	t.Run("a repeat answers 200 deleted and changes nothing", func(t *testing.T) {
		before := w.fingerprint(t)
		out := hasuratest.DecodeOutput[loyalty.DeleteMyAccountOutput](t, hasuratest.Do(t, w.h, deleteMyAccount(t, member(id))))
		if !out.Deleted {
			t.Fatalf("answered %+v; want deleted true", out)
		}
		w.unchanged(t, before)
	})
}

func TestDeleteMyAccountRefusalsThroughHasura(t *testing.T) {
	w := newCognitoWorld(t)
	id, _ := w.signUp(t, "aiko")
	w.local.NewUser(t, w.pool, "stranger") // signed up, never registered
	cases := []struct {
		name    string
		session map[string]string
		status  int
		code    string
	}{
		{"staff are forbidden", staff(w.crew), http.StatusForbidden, "forbidden"},
		{"staff naming the member are forbidden", staff(id), http.StatusForbidden, "forbidden"},
		{"an admin is forbidden", admin, http.StatusForbidden, "forbidden"},
		{"an admin naming the member is forbidden", hasuratest.Session("admin", id), http.StatusForbidden, "forbidden"},
		{"anonymous is forbidden", anonymous, http.StatusForbidden, "forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.fingerprint(t)
			rec := hasuratest.Do(t, w.h, deleteMyAccount(t, c.session))
			if body := hasuratest.DecodeError(t, rec); rec.Code != c.status || body.Extensions.Code != c.code {
				t.Fatalf("answered %d %+v; want %d %s", rec.Code, body, c.status, c.code)
			}
			w.unchanged(t, before)
		})
	}
	for _, secret := range []string{"", "wrong-secret"} {
		t.Run("without the right secret it answers 401: "+secret, func(t *testing.T) {
			before := w.fingerprint(t)
			req := deleteMyAccount(t, member(id))
			req.Header.Set(hasura.SecretHeader, secret)
			rec := hasuratest.Do(t, w.h, req)
			if body := hasuratest.DecodeError(t, rec); rec.Code != http.StatusUnauthorized || body.Extensions.Code != "unauthorized" {
				t.Fatalf("answered %d %+v; want 401 unauthorized", rec.Code, body)
			}
			w.unchanged(t, before)
		})
	}
	if !w.local.HasUser(t, w.pool, "aiko") || !w.local.HasUser(t, w.pool, "stranger") {
		t.Fatal("a refused request deleted a Cognito user")
	}
}

func TestDeleteMyAccountWithoutCognitoConfiguredAnswersNotConfigured(t *testing.T) {
	w := newWorld(t)
	id, _ := lt.Member(t, w.db)
	before := w.fingerprint(t)
	rec := hasuratest.Do(t, w.h, deleteMyAccount(t, member(id)))
	body := hasuratest.DecodeError(t, rec)
	if rec.Code != http.StatusBadRequest || body.Extensions.Code != string(loyalty.CodeNotConfigured) || !strings.Contains(body.Message, "COGNITO_USER_POOL_ID") {
		t.Fatalf("answered %d %+v; want 400 not_configured naming COGNITO_USER_POOL_ID", rec.Code, body)
	}
	w.unchanged(t, before)
}

// While Cognito is unreachable the action answers 503 (Hasura: "internal error", the app
// retries); the retry, once Cognito answers, deletes the user and changes nothing else.
func TestDeleteMyAccountAnswers503WhileCognitoIsDownAndARetryFinishesIt(t *testing.T) {
	w := newCognitoWorld(t)
	id, code := w.signUp(t, "aiko")
	w.earn(t, staff(w.crew), w.store, "R-1", 10_000, code)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	unreachable, err := cognito.New(context.Background(), cognito.Config{Region: cognitotest.Region, UserPoolID: w.pool, Endpoint: down})
	if err != nil {
		t.Fatal(err)
	}
	outage := routes.Mux(routes.Table(&hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet},
		loyalty.New(w.db, loyalty.WithAccountDirectory(unreachable))), server.Health(w.db, nil))

	rec := hasuratest.Do(t, outage, deleteMyAccount(t, member(id)))
	if body := hasuratest.DecodeError(t, rec); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("answered %d %+v while Cognito was down; want 503", rec.Code, body)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM members WHERE id = $1 AND deleted_at IS NOT NULL AND points_balance = 0`, id); n != 1 {
		t.Fatalf("the database part is not done: %s", w.memberRow(t, id))
	}
	if !w.local.HasUser(t, w.pool, "aiko") {
		t.Fatal("the Cognito user is gone, though Cognito was down")
	}

	before := w.fingerprint(t)
	out := hasuratest.DecodeOutput[loyalty.DeleteMyAccountOutput](t, hasuratest.Do(t, w.h, deleteMyAccount(t, member(id))))
	if !out.Deleted || w.local.HasUser(t, w.pool, "aiko") {
		t.Fatalf("the retry answered %+v and the Cognito user exists: %v", out, w.local.HasUser(t, w.pool, "aiko"))
	}
	w.unchanged(t, before)
}

func TestDeleteMyAccountIsServedAndTakesNoArguments(t *testing.T) {
	w := newWorld(t)
	for _, r := range routes.Table(&hasura.Envelope{Secret: hasuratest.Secret, Logger: quiet}, w.svc) {
		if r.Name != "deleteMyAccount" {
			continue
		}
		if r.Pending || r.Kind != routes.Action || r.Input != nil {
			t.Fatalf("deleteMyAccount route: pending %v, kind %s, input %v; want a built action without arguments", r.Pending, r.Kind, r.Input)
		}
		if r.Output != reflect.TypeFor[loyalty.DeleteMyAccountOutput]() {
			t.Fatalf("output type %v; want loyalty.DeleteMyAccountOutput", r.Output)
		}
		return
	}
	t.Fatal("the table has no deleteMyAccount route")
}

func TestDeleteMyAccountOfAUserWhoNeverRegisteredAnswersDeletedThroughHasura(t *testing.T) {
	w := newCognitoWorld(t)
	stranger := w.local.NewUser(t, w.pool, "stranger") // signed up, never registered
	before := w.fingerprint(t)
	out := hasuratest.DecodeOutput[loyalty.DeleteMyAccountOutput](t, hasuratest.Do(t, w.h, deleteMyAccount(t, member(stranger))))
	if !out.Deleted {
		t.Fatalf("answered %+v; want deleted true", out)
	}
	w.unchanged(t, before)
	if w.local.HasUser(t, w.pool, "stranger") {
		t.Error("the Cognito user is still in the pool")
	}
}
