package main

// End to end against cognito-local: cognito-local invokes this command's handler (through a
// stand-in of the Lambda Invoke API) when a user signs in, and the ID token it issues is
// checked as Hasura checks it, configured by nothing but the HASURA_GRAPHQL_JWT_SECRET value
// of hasurajwt. Without cognito-local the test fails, saying how to install it.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/cognito/cognitotest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasurajwt"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasurajwt/hasurajwttest"
)

const (
	function = "cognito-pretoken"
	password = "Correct-Horse-9"
)

type pool struct {
	local  *cognitotest.Local
	lambda *cognitotest.Lambda
	id     string
	client string
	subs   map[string]string // username → sub
}

// newPool is a cognito-local whose Pre Token Generation trigger is this command's handler,
// with a pool, an app client without a secret, the groups staff and admin and one unrelated.
func newPool(t *testing.T) *pool {
	lambda := cognitotest.NewLambda(t)
	local := cognitotest.StartWith(t, cognitotest.Options{Lambda: lambda, PreTokenGeneration: function})
	lambda.Handle(function, local.AsCognitoSends(handler))
	p := &pool{local: local, lambda: lambda, subs: map[string]string{}}
	p.id = local.NewPool(t)
	p.client = local.NewAppClient(t, p.id)
	for _, g := range []string{"staff", "admin", "beta-testers"} {
		local.NewGroup(t, p.id, g)
	}
	return p
}

func (p *pool) user(t *testing.T, name string, groups ...string) {
	t.Helper()
	p.subs[name] = p.local.NewUser(t, p.id, name)
	p.local.SetPassword(t, p.id, name, password)
	for _, g := range groups {
		p.local.AddToGroup(t, p.id, name, g)
	}
}

func (p *pool) idToken(t *testing.T, client, name string) string {
	t.Helper()
	res, err := p.local.SignIn(context.Background(), client, name, password)
	if err != nil {
		t.Fatalf("sign in %s: %v", name, err)
	}
	if res == nil || aws.ToString(res.IdToken) == "" {
		t.Fatalf("sign in %s: no ID token (a challenge?)", name)
	}
	return aws.ToString(res.IdToken)
}

// hasura is the check the engine makes with the secret for client of p.
func (p *pool) hasura(t *testing.T, secret hasurajwt.Secret) *hasurajwttest.Verifier {
	t.Helper()
	v, err := hasurajwttest.New(context.Background(), secret.Value())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSigningInGivesAnIDTokenHasuraTakesWithTheRolesOfTheUsersGroups(t *testing.T) {
	p := newPool(t)
	users := []struct {
		name, kind string
		groups     []string
		roles      []string
	}{
		{"aiko", "a plain member", nil, []string{"member"}},
		{"ben", "a crew member", []string{"staff"}, []string{"member", "staff"}},
		{"chika", "an admin", []string{"admin"}, []string{"member", "admin"}},
		{"dai", "a manager who is also an admin", []string{"admin", "staff"}, []string{"member", "staff", "admin"}},
		{"emi", "a user in an unrelated group", []string{"beta-testers"}, []string{"member"}},
	}
	for _, u := range users {
		p.user(t, u.name, u.groups...)
	}
	hasura := p.hasura(t, hasurajwt.CognitoLocal(p.local.Endpoint, p.id, p.client))
	for _, u := range users {
		t.Run(u.kind, func(t *testing.T) {
			claims, err := hasura.Verify(p.idToken(t, p.client, u.name))
			if err != nil {
				t.Fatalf("Hasura would refuse the ID token: %v", err)
			}
			want := hasurajwt.Claims{UserID: p.subs[u.name], DefaultRole: "member", AllowedRoles: u.roles}
			if !reflect.DeepEqual(claims, want) {
				t.Fatalf("session %+v, want %+v", claims, want)
			}
		})
	}
	t.Run("the session follows a change of groups at the next sign-in", func(t *testing.T) {
		p.local.AddToGroup(t, p.id, "aiko", "staff")
		claims, err := hasura.Verify(p.idToken(t, p.client, "aiko"))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"member", "staff"}; !reflect.DeepEqual(claims.AllowedRoles, want) {
			t.Fatalf("allowed roles %q, want %q", claims.AllowedRoles, want)
		}
	})
}

func TestHasurasCheckRefusesTokensItMustNotTrust(t *testing.T) {
	p := newPool(t)
	p.user(t, "aiko")
	secret := hasurajwt.CognitoLocal(p.local.Endpoint, p.id, p.client)
	hasura := p.hasura(t, secret)
	good := p.idToken(t, p.client, "aiko")
	if _, err := hasura.Verify(good); err != nil {
		t.Fatalf("the genuine token is refused: %v", err)
	}
	// The claims of the genuine token, to sign otherwise.
	claims, err := jwt.ParseString(good, jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		t.Fatal(err)
	}
	header := func(alg jwa.SignatureAlgorithm) jws.Headers {
		h := jws.NewHeaders()
		h.Set(jws.KeyIDKey, "CognitoLocal") // cognito-local's key id: only the key differs
		h.Set(jws.AlgorithmKey, alg)
		return h
	}

	t.Run("signed by another key", func(t *testing.T) {
		raw, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := jwt.Sign(claims, jwt.WithKey(jwa.RS256, raw, jws.WithProtectedHeaders(header(jwa.RS256))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hasura.Verify(string(forged)); err == nil || !strings.Contains(err.Error(), "verif") {
			t.Fatalf("a token signed by another key: err = %v, want a failed signature", err)
		}
	})
	t.Run("signed with the public key as an HMAC secret", func(t *testing.T) {
		keys, err := jwk.Fetch(context.Background(), secret.JWKURL)
		if err != nil {
			t.Fatal(err)
		}
		public, _ := keys.Key(0)
		asJSON, _ := json.Marshal(public)
		forged, err := jwt.Sign(claims, jwt.WithKey(jwa.HS256, asJSON, jws.WithProtectedHeaders(header(jwa.HS256))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hasura.Verify(string(forged)); err == nil || !strings.Contains(err.Error(), "algorithm") {
			t.Fatalf("an HS256 token: err = %v, want the algorithm refused", err)
		}
	})
	t.Run("unsigned (alg none)", func(t *testing.T) {
		parts := strings.Split(good, ".")
		none := `{"alg":"none","kid":"CognitoLocal","typ":"JWT"}`
		forged := base64.RawURLEncoding.EncodeToString([]byte(none)) + "." + parts[1] + "."
		if _, err := hasura.Verify(forged); err == nil || !strings.Contains(err.Error(), "algorithm") {
			t.Fatalf("an unsigned token: err = %v, want the algorithm refused", err)
		}
	})
	t.Run("issued for another app client", func(t *testing.T) {
		other := p.local.NewAppClient(t, p.id)
		token := p.idToken(t, other, "aiko")
		if _, err := hasura.Verify(token); err == nil || !strings.Contains(err.Error(), "aud") {
			t.Fatalf("a token for another audience: err = %v, want a refusal naming the audience", err)
		}
		// The same token is good for a secret naming that client: only the audience differed.
		if _, err := p.hasura(t, hasurajwt.CognitoLocal(p.local.Endpoint, p.id, other)).Verify(token); err != nil {
			t.Fatalf("the other client's own secret refuses its token: %v", err)
		}
	})
	t.Run("issued by another pool", func(t *testing.T) {
		otherPool := p.local.NewPool(t)
		otherClient := p.local.NewAppClient(t, otherPool)
		p.local.NewUser(t, otherPool, "aiko")
		p.local.SetPassword(t, otherPool, "aiko", password)
		token := p.idToken(t, otherClient, "aiko")
		// Same key (cognito-local has one) and a secret with the audience of that client: only
		// the issuer tells the pools apart.
		s := secret
		s.Audience = otherClient
		if _, err := p.hasura(t, s).Verify(token); err == nil || !strings.Contains(err.Error(), "iss") {
			t.Fatalf("a token of another pool: err = %v, want a refusal naming the issuer", err)
		}
	})
	t.Run("past its exp", func(t *testing.T) {
		exp := claims.Expiration()
		late := p.hasura(t, secret)
		late.Now = func() time.Time { return exp.Add(time.Second) }
		if _, err := late.Verify(good); err == nil || !strings.Contains(err.Error(), "exp") {
			t.Fatalf("a token a second past exp: err = %v, want a refusal naming exp", err)
		}
	})
	t.Run("an access token, which has no aud", func(t *testing.T) {
		res, err := p.local.SignIn(context.Background(), p.client, "aiko", password)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hasura.Verify(aws.ToString(res.AccessToken)); err == nil || !strings.Contains(err.Error(), "aud") {
			t.Fatalf("the access token: err = %v, want a refusal naming the audience", err)
		}
	})
	t.Run("claims written as a string, read as the version 2 format (json)", func(t *testing.T) {
		if _, err := p.hasura(t, secret.ForVersion2()).Verify(good); err == nil || !strings.Contains(err.Error(), "claims_format") {
			t.Fatalf("err = %v: the claims format of the secret must match the trigger's event version", err)
		}
	})
}

func TestASignInTheHandlerRefusesGetsNoTokens(t *testing.T) {
	p := newPool(t)
	p.user(t, "aiko")
	// Unmended, cognito-local's event says version "0", which the handler refuses.
	p.lambda.Handle(function, handler)
	res, err := p.local.SignIn(context.Background(), p.client, "aiko", password)
	if err == nil {
		t.Fatalf("signed in with tokens %+v; want Cognito to refuse", res)
	}
	if !strings.Contains(err.Error(), "version") {
		t.Errorf("the refusal %q does not carry the handler's reason", err)
	}
}
