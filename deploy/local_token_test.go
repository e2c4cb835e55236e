package deploy

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// claimsNamespace is where Hasura reads its session variables (the Lambda writes the same).
const claimsNamespace = "https://hasura.io/jwt/claims"

// scripts/local-token.sh signs what docker compose's Hasura takes: checked with the secret
// compose gives the engine (its HS256 key and claims format), as the engine reads a token.
func TestALocalTokenIsOneComposesHasuraAccepts(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repo, "docker-compose.yaml")},
		cli.WithWorkingDirectory(repo), cli.WithEnv([]string{}), cli.WithName("loyalty"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	value := p.Services["hasura"].Environment["HASURA_GRAPHQL_JWT_SECRET"]
	if value == nil {
		t.Fatal("compose gives Hasura no HASURA_GRAPHQL_JWT_SECRET")
	}
	var secret struct {
		Type         string `json:"type"`
		Key          string `json:"key"`
		ClaimsFormat string `json:"claims_format"`
	}
	if err := json.Unmarshal([]byte(*value), &secret); err != nil {
		t.Fatalf("HASURA_GRAPHQL_JWT_SECRET %q: %v", *value, err)
	}
	if secret.Type != "HS256" || secret.ClaimsFormat != "stringified_json" || len(secret.Key) < 32 {
		t.Fatalf("compose's secret %+v: want HS256, stringified_json, a key of 32 characters or more", secret)
	}

	const user = "00000000-0000-4000-8000-0000000000c1"
	for role, allowed := range map[string][]string{
		"member": {"member"},
		"staff":  {"member", "staff"},
		"admin":  {"member", "admin"},
	} {
		out, err := exec.Command("bash", filepath.Join(repo, "scripts/local-token.sh"), user, role).Output()
		if err != nil {
			t.Fatalf("local-token.sh %s: %v", role, err)
		}
		tok, err := jwt.Parse([]byte(strings.TrimSpace(string(out))), jwt.WithKey(jwa.HS256, []byte(secret.Key)), jwt.WithValidate(true))
		if err != nil {
			t.Fatalf("the %s token is refused: %v", role, err)
		}
		if tok.Subject() != user || time.Until(tok.Expiration()) <= 0 {
			t.Errorf("the %s token: sub %q, exp %v", role, tok.Subject(), tok.Expiration())
		}
		raw, _ := tok.Get(claimsNamespace)
		text, ok := raw.(string) // stringified_json: a JSON string holding the claims
		var claims struct {
			UserID       string   `json:"x-hasura-user-id"`
			DefaultRole  string   `json:"x-hasura-default-role"`
			AllowedRoles []string `json:"x-hasura-allowed-roles"`
		}
		if !ok || json.Unmarshal([]byte(text), &claims) != nil {
			t.Fatalf("the %s token's %s is %v, want the claims as a JSON string", role, claimsNamespace, raw)
		}
		if claims.UserID != user || claims.DefaultRole != "member" || !slices.Equal(claims.AllowedRoles, allowed) {
			t.Errorf("the %s token's claims %+v", role, claims)
		}
	}
	if err := exec.Command("bash", filepath.Join(repo, "scripts/local-token.sh"), user, "root").Run(); err == nil {
		t.Error("local-token.sh made a token for a role that does not exist")
	}
}
