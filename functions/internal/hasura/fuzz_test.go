package hasura_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
)

// fuzzArgs has the field types the project's actions take.
type fuzzArgs struct {
	Input struct {
		MemberID string       `json:"memberId"`
		Amount   int64        `json:"amount"`
		Points   *int32       `json:"points"`
		Ratio    float64      `json:"ratio"`
		Note     *string      `json:"note"`
		Tags     []string     `json:"tags"`
		When     *hasura.Time `json:"when"`
		At       hasura.Time  `json:"at"`
		Flag     bool         `json:"flag"`
	} `json:"input"`
}

// checkAnswer fails unless rec is a 200 with want or a 4xx with Hasura's error body: bad input
// must never be a 5xx (Hasura would hide the reason) nor reach the handler.
func checkAnswer(t *testing.T, status int, header http.Header, body []byte, calls int, want string) {
	t.Helper()
	switch {
	case status == http.StatusOK:
		if string(body) != want {
			t.Fatalf("200 with body %s, want %s", body, want)
		}
		if calls != 1 {
			t.Fatalf("200 after %d handler calls", calls)
		}
	case status >= 400 && status < 500:
		if _, problem := hasuratest.CheckErrorBody(header, body); problem != "" {
			t.Fatalf("%d: %s: %s", status, problem, body)
		}
		if calls != 0 {
			t.Fatalf("%d after %d handler calls", status, calls)
		}
	default:
		t.Fatalf("status %d for a request body: %s", status, body)
	}
}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
}

func FuzzActionDecode(f *testing.F) {
	addSeeds(f,
		actionJSON,
		`{"action":{"name":"earnPoints"},"input":{"input":{"memberId":"m","amount":1,"points":2,"ratio":0.5,"note":null,"tags":["a"],"when":"2026-01-02T03:04:05Z","at":"2026-01-02 03:04:05","flag":true}},"session_variables":{"X-Hasura-Role":"staff"},"request_query":null}`,
		`{"action":{"name":"earnPoints"},"input":{"input":{"amount":"1"}},"session_variables":{"x-hasura-role":"staff"}}`,
		`{"action":{"name":"earnPoints"},"input":{"input":{"amount":1e400}},"session_variables":{"x-hasura-role":"staff"}}`,
		`{"action":{"name":"earnPoints"},"input":{"input":{"points":2147483648}},"session_variables":{"x-hasura-role":"staff"}}`,
		`{"action":{"name":"earnPoints"},"input":{"input":{"at":"99999-01-01T00:00:00Z"}},"session_variables":{"x-hasura-role":"staff"}}`,
		`{"action":{"name":"earnPoints"},"input":{"input":{"when":12}},"session_variables":{"x-hasura-role":"staff"}}`,
		`{"action":{"name":"earnPoints"},"input":{"input":{"at":null}},"session_variables":{"x-hasura-role":1}}`,
		`{"action":{"name":"earnPoints"},"input":[],"session_variables":{}}`,
		`{"action":{"name":"earnPoints"},"input":{"input":{"tags":[1]}},"session_variables":{"x-hasura-role":"a","X-HASURA-ROLE":"b"}}`,
		`{"action":"earnPoints"}`,
		`{"action":{"name":"earnPoints"}}}`,
		`{"action":{"name":"\u0000"},"session_variables":{"x-hasura-role":"\ud800"}}`,
		``, `{`, `null`, `[]`, `"x"`, `0`, `{} {}`, "\xff\xfe",
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		calls := 0
		h := hasura.Action(newEnv(nil), func(_ context.Context, _ *hasura.ActionRequest[fuzzArgs]) (earnOutput, error) {
			calls++
			return earnOutput{Earned: 1, Balance: 2}, nil
		})
		rec := hasuratest.Do(t, h, hasuratest.RawRequest(t, "/earnPoints", body))
		checkAnswer(t, rec.Code, rec.Header(), rec.Body.Bytes(), calls, `{"earned":1,"balance":2}`+"\n")
	})
}

func FuzzEventDecode(f *testing.F) {
	addSeeds(f,
		eventJSON,
		`{"id":"e","trigger":{"name":"t"},"table":{"schema":"public","name":"orders"},"event":{"op":"INSERT","data":{"old":null,"new":{"amount":1}}}}`,
		`{"id":"e","trigger":{"name":"t"},"table":{"name":"orders"},"event":{"op":"DELETE","data":{"old":{"paid_at":"x"}}}}`,
		`{"id":"e","created_at":"2022-09-19T20:04:47.569918","trigger":{"name":"t"},"table":{"name":"o"},"delivery_info":{"current_retry":-1},"event":{"op":"UPDATE","data":{"old":{},"new":{}},"session_variables":{"A":"b"},"trace_context":{}}}`,
		`{"id":1}`, `{"event":{"op":"MANUAL"}}`, ``, `{`, `null`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		calls := 0
		h := hasura.EventTrigger(newEnv(&failureLog{}), func(_ context.Context, _ *hasura.EventRequest[orderRow]) (json.RawMessage, error) {
			calls++
			return json.RawMessage(`{"ok":true}`), nil
		})
		rec := hasuratest.Do(t, h, hasuratest.RawRequest(t, "/order_paid", body))
		checkAnswer(t, rec.Code, rec.Header(), rec.Body.Bytes(), calls, `{"ok":true}`+"\n")
	})
}
