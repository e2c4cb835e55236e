package pretoken_test

// The events are built from testdata/v1.json and v2.json, which follow the shapes of AWS's
// documentation of the Pre Token Generation trigger, and changed per case.

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasurajwt"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pretoken"
)

const sub = "4f6c9a1e-2b7d-4c1a-9e3f-6a8b0c2d4e5f"

// event is testdata/<name>.json with edit applied to its decoded form.
func event(t *testing.T, name string, edit func(e map[string]any)) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]any
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(e)
	}
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func groups(gs ...string) func(map[string]any) {
	return func(e map[string]any) {
		e["request"].(map[string]any)["groupConfiguration"].(map[string]any)["groupsToOverride"] = gs
	}
}

func invoke(t *testing.T, ev json.RawMessage) (map[string]any, *bytes.Buffer, error) {
	t.Helper()
	var logs bytes.Buffer
	h := pretoken.Handler{Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	out, err := h.Invoke(context.Background(), ev)
	if err != nil {
		if out != nil {
			t.Errorf("an error came with an answer: %s", out)
		}
		return nil, &logs, err
	}
	var answer map[string]any
	if err := json.Unmarshal(out, &answer); err != nil {
		t.Fatalf("the answer is not JSON: %v\n%s", err, out)
	}
	return answer, &logs, nil
}

// at walks obj along path (map keys).
func at(t *testing.T, obj any, path ...string) any {
	t.Helper()
	for _, k := range path {
		m, ok := obj.(map[string]any)
		if !ok {
			t.Fatalf("at %q: %v is not an object", k, obj)
		}
		obj = m[k]
	}
	return obj
}

var roleCases = []struct {
	name   string
	groups []string
	want   []string
}{
	{"a user in no group is a member only", nil, []string{"member"}},
	{"a crew member in staff is also staff", []string{"staff"}, []string{"member", "staff"}},
	{"an admin is also admin", []string{"admin"}, []string{"member", "admin"}},
	{"a user in both groups has both roles, in a fixed order", []string{"admin", "staff"}, []string{"member", "staff", "admin"}},
	{"an unrelated group gives nothing", []string{"beta-testers"}, []string{"member"}},
	{"unrelated groups beside staff are ignored", []string{"eu-west-1_EXAMPLE_Google", "staff", "Staff", "administrators"}, []string{"member", "staff"}},
}

func TestVersion1PutsTheClaimsAsAJSONStringInTheIDToken(t *testing.T) {
	for _, tc := range roleCases {
		t.Run(tc.name, func(t *testing.T) {
			answer, _, err := invoke(t, event(t, "v1", groups(tc.groups...)))
			if err != nil {
				t.Fatal(err)
			}
			value, ok := at(t, answer, "response", "claimsOverrideDetails", "claimsToAddOrOverride", hasurajwt.Namespace).(string)
			if !ok {
				t.Fatalf("no string claim %s in %v", hasurajwt.Namespace, answer["response"])
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(value), &got); err != nil {
				t.Fatalf("the claim is not stringified JSON: %v: %q", err, value)
			}
			want := map[string]any{"x-hasura-user-id": sub, "x-hasura-default-role": "member", "x-hasura-allowed-roles": anys(tc.want)}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("claims = %v, want %v", got, want)
			}
		})
	}
}

func TestVersion2PutsTheClaimsAsAnObjectInTheIDAndAccessTokens(t *testing.T) {
	for _, tc := range roleCases {
		t.Run(tc.name, func(t *testing.T) {
			answer, _, err := invoke(t, event(t, "v2", groups(tc.groups...)))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"x-hasura-user-id": sub, "x-hasura-default-role": "member", "x-hasura-allowed-roles": anys(tc.want)}
			for _, token := range []string{"idTokenGeneration", "accessTokenGeneration"} {
				got := at(t, answer, "response", "claimsAndScopeOverrideDetails", token, "claimsToAddOrOverride", hasurajwt.Namespace)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s claims = %#v, want the object %v", token, got, want)
				}
			}
		})
	}
}

func TestClaimsOtherCodeRequestedAreKept(t *testing.T) {
	t.Run("version 1", func(t *testing.T) {
		answer, _, err := invoke(t, event(t, "v1", func(e map[string]any) {
			e["response"] = map[string]any{"claimsOverrideDetails": map[string]any{
				"claimsToAddOrOverride": map[string]any{"store_hint": "shibuya", hasurajwt.Namespace: `{"x-hasura-default-role":"admin"}`},
				"claimsToSuppress":      []any{"email", hasurajwt.Namespace},
				"groupOverrideDetails":  map[string]any{"groupsToOverride": []any{"staff"}},
			}}
		}))
		if err != nil {
			t.Fatal(err)
		}
		d := at(t, answer, "response", "claimsOverrideDetails")
		if got := at(t, d, "claimsToAddOrOverride", "store_hint"); got != "shibuya" {
			t.Errorf("store_hint = %v; the claim another handler added was lost", got)
		}
		if got := at(t, d, "claimsToAddOrOverride", hasurajwt.Namespace).(string); !strings.Contains(got, `"x-hasura-user-id":"`+sub+`"`) {
			t.Errorf("a namespace claim someone else wrote was kept instead of ours: %s", got)
		}
		if got := at(t, d, "claimsToSuppress"); !reflect.DeepEqual(got, []any{"email"}) {
			t.Errorf("claimsToSuppress = %v, want [email]: the other suppression kept, ours never suppressed", got)
		}
		if got := at(t, d, "groupOverrideDetails", "groupsToOverride"); !reflect.DeepEqual(got, []any{"staff"}) {
			t.Errorf("groupOverrideDetails = %v; the override was lost", got)
		}
	})
	t.Run("version 2", func(t *testing.T) {
		answer, _, err := invoke(t, event(t, "v2", func(e map[string]any) {
			e["response"] = map[string]any{"claimsAndScopeOverrideDetails": map[string]any{
				"idTokenGeneration":     map[string]any{"claimsToAddOrOverride": map[string]any{"locale": "ja"}},
				"accessTokenGeneration": map[string]any{"scopesToAdd": []any{"loyalty/read"}, "claimsToSuppress": []any{hasurajwt.Namespace}},
			}}
		}))
		if err != nil {
			t.Fatal(err)
		}
		d := at(t, answer, "response", "claimsAndScopeOverrideDetails")
		if got := at(t, d, "idTokenGeneration", "claimsToAddOrOverride", "locale"); got != "ja" {
			t.Errorf("locale = %v; the claim another handler added was lost", got)
		}
		if got := at(t, d, "accessTokenGeneration", "scopesToAdd"); !reflect.DeepEqual(got, []any{"loyalty/read"}) {
			t.Errorf("scopesToAdd = %v; the scope was lost", got)
		}
		if got := at(t, d, "accessTokenGeneration", "claimsToSuppress"); len(got.([]any)) != 0 {
			t.Errorf("claimsToSuppress = %v; the claims would be suppressed", got)
		}
		if at(t, d, "accessTokenGeneration", "claimsToAddOrOverride", hasurajwt.Namespace) == nil {
			t.Error("no claims in the access token")
		}
	})
}

func TestTheRestOfTheEventComesBackAsItCame(t *testing.T) {
	answer, _, err := invoke(t, event(t, "v1", nil))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"version": "1", "triggerSource": "TokenGeneration_Authentication", "userPoolId": "eu-west-1_EXAMPLE", "userName": "aiko@example.com"} {
		if answer[k] != want {
			t.Errorf("%s = %v, want %v", k, answer[k], want)
		}
	}
	if got := at(t, answer, "request", "userAttributes", "sub"); got != sub {
		t.Errorf("request.userAttributes.sub = %v", got)
	}
}

func TestEveryTokenGenerationSourceIsAnswered(t *testing.T) {
	for _, source := range []string{"TokenGeneration_HostedAuth", "TokenGeneration_Authentication", "TokenGeneration_NewPasswordChallenge", "TokenGeneration_AuthenticateDevice", "TokenGeneration_RefreshTokens"} {
		for _, v := range []string{"v1", "v2"} {
			if _, _, err := invoke(t, event(t, v, func(e map[string]any) { e["triggerSource"] = source })); err != nil {
				t.Errorf("%s %s: %v", v, source, err)
			}
		}
	}
}

func TestAVersionWrittenAsANumberIsReadToo(t *testing.T) {
	answer, _, err := invoke(t, event(t, "v2", func(e map[string]any) { e["version"] = 2 }))
	if err != nil {
		t.Fatal(err)
	}
	if at(t, answer, "response", "claimsAndScopeOverrideDetails", "idTokenGeneration", "claimsToAddOrOverride", hasurajwt.Namespace) == nil {
		t.Fatal("no claims")
	}
}

func TestAnEventThatCannotGetClaimsIsAnErrorAndLogged(t *testing.T) {
	attrs := func(f func(a map[string]any)) func(map[string]any) {
		return func(e map[string]any) { f(e["request"].(map[string]any)["userAttributes"].(map[string]any)) }
	}
	cases := []struct {
		name  string
		event json.RawMessage
		says  string
	}{
		{"no sub, version 1", event(t, "v1", attrs(func(a map[string]any) { delete(a, "sub") })), "no sub"},
		{"no sub, version 2", event(t, "v2", attrs(func(a map[string]any) { delete(a, "sub") })), "no sub"},
		{"an empty sub", event(t, "v1", attrs(func(a map[string]any) { a["sub"] = "" })), "no sub"},
		{"a sub that is no uuid", event(t, "v1", attrs(func(a map[string]any) { a["sub"] = "aiko" })), "not a uuid"},
		{"no user attributes at all", event(t, "v1", func(e map[string]any) { delete(e["request"].(map[string]any), "userAttributes") }), "no sub"},
		{"another trigger", event(t, "v1", func(e map[string]any) { e["triggerSource"] = "PreSignUp_SignUp" }), "trigger source"},
		{"machine-to-machine tokens (version 3)", event(t, "v2", func(e map[string]any) { e["version"] = "3"; e["triggerSource"] = "TokenGeneration_ClientCredentials" }), "trigger source"},
		{"version 3", event(t, "v2", func(e map[string]any) { e["version"] = "3" }), "version"},
		{"version 0 (what cognito-local sends)", event(t, "v1", func(e map[string]any) { e["version"] = "0" }), "version"},
		{"no version", event(t, "v1", func(e map[string]any) { delete(e, "version") }), "version"},
		{"a version that is no number", event(t, "v1", func(e map[string]any) { e["version"] = map[string]any{} }), "version"},
		{"groups that are not a list", event(t, "v1", func(e map[string]any) {
			e["request"].(map[string]any)["groupConfiguration"] = map[string]any{"groupsToOverride": "staff"}
		}), "version 1 event"},
		{"no JSON object", json.RawMessage(`["version","1"]`), "JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, logs, err := invoke(t, tc.event)
			if err == nil {
				t.Fatal("answered; want an error so that Cognito refuses the sign-in")
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("the log is not one JSON line: %v\n%s", err, logs)
			}
			if line["level"] != "ERROR" || line["error"] != err.Error() {
				t.Errorf("log line %v: want level ERROR and the error", line)
			}
			if _, ok := line["trigger_source"]; !ok {
				t.Errorf("log line %v does not say which trigger it was", line)
			}
		})
	}
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
