package hasurajwt_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasurajwt"
)

func TestTheProductionSecretNamesThePoolsKeysIssuerAndAppClient(t *testing.T) {
	var got map[string]any
	if err := json.Unmarshal([]byte(hasurajwt.Cognito("ap-northeast-1", "ap-northeast-1_AbC123", "4l0y4lty").Value()), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"type":          "RS256",
		"jwk_url":       "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_AbC123/.well-known/jwks.json",
		"claims_format": "stringified_json",
		"issuer":        "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_AbC123",
		"audience":      "4l0y4lty",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("secret %v\nwant   %v", got, want)
	}
}

func TestTheLocalSecretIsTheSameForCognitoLocalsIssuer(t *testing.T) {
	s := hasurajwt.CognitoLocal("http://127.0.0.1:9229/", "local_abc", "client")
	if s.Issuer != "http://127.0.0.1:9229/local_abc" || s.JWKURL != "http://127.0.0.1:9229/local_abc/.well-known/jwks.json" {
		t.Fatalf("issuer %q, jwk_url %q", s.Issuer, s.JWKURL)
	}
	if p := hasurajwt.Cognito("r", "local_abc", "client"); s.Type != p.Type || s.ClaimsFormat != p.ClaimsFormat || s.Audience != p.Audience {
		t.Fatalf("local %+v and production %+v differ beyond the issuer", s, p)
	}
}

func TestVersion2ReadsTheClaimsAsJSON(t *testing.T) {
	s := hasurajwt.Cognito("r", "p", "c")
	if v2 := s.ForVersion2(); v2.ClaimsFormat != hasurajwt.JSON || s.ClaimsFormat != hasurajwt.StringifiedJSON {
		t.Fatalf("ForVersion2 = %q (from %q)", v2.ClaimsFormat, s.ClaimsFormat)
	}
}

// The docs quote the value with placeholders; it must be what Cognito writes.
func TestDocsIdentityQuotesTheSecretAsBuiltHere(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "identity.md"))
	if err != nil {
		t.Fatal(err)
	}
	secret := hasurajwt.Cognito("<region>", "<user-pool-id>", "<app-client-id>")
	for _, v := range []string{secret.Value(), secret.ForVersion2().Value()} {
		quoted := "HASURA_GRAPHQL_JWT_SECRET='" + v + "'"
		if !strings.Contains(string(doc), quoted) {
			t.Errorf("docs/identity.md does not quote\n%s", quoted)
		}
	}
	if strings.Contains(secret.Value(), `\u003c`) {
		t.Error("the placeholders are escaped")
	}
}
