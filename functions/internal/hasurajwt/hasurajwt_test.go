package hasurajwt_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
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

// The docs quote the values with placeholders; they must be what this package builds, on
// identity.md and on every other page that quotes one (the engine's settings tables).
func TestDocsIdentityQuotesTheSecretAsBuiltHere(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "identity.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range quotable() {
		quoted := "HASURA_GRAPHQL_JWT_SECRET='" + v + "'"
		if !strings.Contains(string(doc), quoted) {
			t.Errorf("docs/identity.md does not quote\n%s", quoted)
		}
	}
	if strings.Contains(quotable()[0], `\u003c`) {
		t.Error("the placeholders are escaped")
	}
}

func TestEveryPageQuotesOnlySecretsBuiltHere(t *testing.T) {
	pages := 0
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == ".data") {
			return filepath.SkipDir
		}
		if d.IsDir() || filepath.Ext(path) != ".md" {
			return nil
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, quoted := range quotedSecret.FindAllString(string(text), -1) {
			pages++
			if !slices.Contains(quotable(), quoted) {
				t.Errorf("%s quotes a JWT secret this package does not build:\n%s\nwant one of\n%s", path, quoted, strings.Join(quotable(), "\n"))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages < 4 { // identity.md's three, and the engine's settings in infrastructure.md and operators.md
		t.Fatalf("found %d quoted secrets; the pattern no longer finds them", pages)
	}
}

func TestAQuotedSecretThatDriftedIsFound(t *testing.T) {
	drifted := strings.Replace(quotable()[0], `"audience"`, `"aud"`, 1)
	if got := quotedSecret.FindString("`" + drifted + "`"); got != drifted || slices.Contains(quotable(), got) {
		t.Fatalf("found %q in a drifted quote", got)
	}
}

// repoRoot is the repository, from this package's directory.
var repoRoot = filepath.Join("..", "..", "..")

// quotedSecret is a Cognito JWT secret as the pages quote one: a JSON object from its type to
// the closing quote or backtick around it.
var quotedSecret = regexp.MustCompile("\\{\"type\":\"RS256\"[^'`]*\\}")

// quotable are the values the pages may quote: production (version 1 and 2) and cognito-local,
// with placeholders.
func quotable() []string {
	prod := hasurajwt.Cognito("<region>", "<user-pool-id>", "<app-client-id>")
	return []string{prod.Value(), prod.ForVersion2().Value(), hasurajwt.CognitoLocal("http://<host>:<port>", "<user-pool-id>", "<app-client-id>").Value()}
}
