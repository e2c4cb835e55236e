package hasura_test

import (
	"maps"
	"net/http"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
)

func TestActionPayloadDecodes(t *testing.T) {
	base := parseDoc(t, actionJSON)
	fullQuery := "mutation { earnPoints(input: {memberId: \"m-1\", amount: 1200, receiptNo: \"R-1\"}) { earned balance } }"
	staff := hasura.Session{"x-hasura-role": "staff", "x-hasura-user-id": "s-1"}
	tests := []struct {
		name        string
		body        doc
		wantSession hasura.Session
		wantQuery   *string
	}{
		{"a synchronous action carries every field", base, staff, &fullQuery},
		{"session variable keys sent in mixed case are lower-cased and their values kept",
			base.with(t, "session_variables", `{"X-Hasura-Role":"Staff","X-HASURA-USER-ID":"S-1","x-Hasura-Store-Id":"Store-9"}`),
			hasura.Session{"x-hasura-role": "Staff", "x-hasura-user-id": "S-1", "x-hasura-store-id": "Store-9"}, &fullQuery},
		{"an asynchronous action's null request_query decodes as none", base.with(t, "request_query", `null`), staff, nil},
		{"an absent request_query decodes as none", base.without(t, "request_query"), staff, nil},
		{"unknown fields at every level are ignored",
			base.with(t, "action.definition", `{"kind":"synchronous"}`).
				with(t, "input.input.note", `"extra"`).
				with(t, "input.otherArgument", `[1,2]`).
				with(t, "request_headers", `{"x":"y"}`).
				with(t, "client_info", `null`),
			staff, &fullQuery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := serveAction[earnArgs](t, newEnv(nil), tt.body.bytes(t))
			if out := hasuratest.DecodeOutput[earnOutput](t, rec); out != (earnOutput{Earned: 12, Balance: 112}) {
				t.Errorf("output = %+v", out)
			}
			req := s.only(t)
			if req.Action.Name != "earnPoints" {
				t.Errorf("action.name = %q", req.Action.Name)
			}
			if want := (earnInput{MemberID: "m-1", Amount: 1200, ReceiptNo: "R-1"}); req.Input.Input != want {
				t.Errorf("input = %+v, want %+v", req.Input.Input, want)
			}
			if !maps.Equal(req.Session, tt.wantSession) {
				t.Errorf("session = %v, want %v", req.Session, tt.wantSession)
			}
			if req.Session.Role() != tt.wantSession["x-hasura-role"] || req.Session.UserID() != tt.wantSession["x-hasura-user-id"] {
				t.Errorf("role %q, user id %q", req.Session.Role(), req.Session.UserID())
			}
			switch {
			case tt.wantQuery == nil && req.RequestQuery != nil:
				t.Errorf("request_query = %q, want none", *req.RequestQuery)
			case tt.wantQuery != nil && (req.RequestQuery == nil || *req.RequestQuery != *tt.wantQuery):
				t.Errorf("request_query = %v, want %q", req.RequestQuery, *tt.wantQuery)
			}
		})
	}
}

// An action with several arguments gets them keyed by their GraphQL names.
func TestActionArgumentsAreKeyedByTheirGraphQLNames(t *testing.T) {
	type transferArgs struct {
		FromMemberID string  `json:"fromMemberId"`
		ToMemberID   string  `json:"toMemberId"`
		Points       int64   `json:"points"`
		Reason       *string `json:"reason"`
	}
	tests := []struct {
		name string
		args string
		want transferArgs
	}{
		{"every argument given", `{"fromMemberId":"a","toMemberId":"b","points":50,"reason":"gift"}`, transferArgs{"a", "b", 50, ptr("gift")}},
		{"an optional argument given as null", `{"fromMemberId":"a","toMemberId":"b","points":50,"reason":null}`, transferArgs{"a", "b", 50, nil}},
		{"an optional argument left out", `{"fromMemberId":"a","toMemberId":"b","points":50}`, transferArgs{"a", "b", 50, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := serveAction[transferArgs](t, newEnv(nil), parseDoc(t, actionJSON).with(t, "input", tt.args).bytes(t))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := s.only(t).Input
			if got.FromMemberID != tt.want.FromMemberID || got.ToMemberID != tt.want.ToMemberID || got.Points != tt.want.Points ||
				(got.Reason == nil) != (tt.want.Reason == nil) || (got.Reason != nil && *got.Reason != *tt.want.Reason) {
				t.Errorf("args = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestActionFieldsOfTheWrongTypeAreRefusedByName(t *testing.T) {
	base := parseDoc(t, actionJSON)
	tests := []struct {
		name  string
		body  doc
		field string
	}{
		{"an amount given as a string", base.with(t, "input.input.amount", `"1200"`), "input.amount"},
		{"an amount given as a fraction", base.with(t, "input.input.amount", `12.5`), "input.amount"},
		{"an amount too large for 64 bits", base.with(t, "input.input.amount", `99999999999999999999`), "input.amount"},
		{"a member id given as a number", base.with(t, "input.input.memberId", `7`), "input.memberId"},
		{"the input argument given as a list", base.with(t, "input.input", `[]`), "input"},
		{"the arguments given as a string", base.with(t, "input", `"x"`), "input"},
		{"the action name given as a number", base.with(t, "action.name", `1`), "action.name"},
		{"the action given as a string", base.with(t, "action", `"earnPoints"`), "action"},
		{"the session given as a string", base.with(t, "session_variables", `"staff"`), "session_variables"},
		{"a session variable given as a number", base.with(t, "session_variables.x-hasura-user-id", `42`), "session_variables.x-hasura-user-id"},
		{"a session variable given as null", base.with(t, "session_variables.x-hasura-role", `null`), "session_variables.x-hasura-role"},
		{"the request query given as an object", base.with(t, "request_query", `{}`), "request_query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := serveAction[earnArgs](t, newEnv(nil), tt.body.bytes(t))
			refused(t, rec, s.calls(), tt.field)
		})
	}
}

func TestActionsWithoutARequiredEnvelopeFieldAreRefusedByName(t *testing.T) {
	base := parseDoc(t, actionJSON)
	tests := []struct {
		name  string
		body  doc
		field string
	}{
		{"no action", base.without(t, "action"), "action.name"},
		{"no action name", base.without(t, "action.name"), "action.name"},
		{"an empty action name", base.with(t, "action.name", `""`), "action.name"},
		{"no session variables", base.without(t, "session_variables"), "session_variables"},
		{"null session variables", base.with(t, "session_variables", `null`), "session_variables"},
		{"a session without a role", base.without(t, "session_variables.x-hasura-role"), "session_variables.x-hasura-role"},
		{"a session with an empty role", base.with(t, "session_variables.x-hasura-role", `""`), "session_variables.x-hasura-role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := serveAction[earnArgs](t, newEnv(nil), tt.body.bytes(t))
			refused(t, rec, s.calls(), tt.field)
		})
	}
}

// A failed action is answered to the client and never retried: nothing is recorded.
func TestActionsNeverRecordFailures(t *testing.T) {
	for _, res := range []result{fails(errBoom), fails(&hasura.Error{Status: 409, Code: "duplicate", Message: "dup"}), fails(temporary{}), ok(earnOutput{})} {
		failures := &failureLog{}
		calls := 0
		h := kinds[0].serve(newEnv(failures), res, &calls)
		hasuratest.Do(t, h, kinds[0].request(t))
		hasuratest.Do(t, h, hasuratest.RawRequest(t, "/earnPoints", []byte(`{`)))
		if got := failures.all(); len(got) != 0 {
			t.Errorf("an action recorded failures: %+v", got)
		}
	}
}
