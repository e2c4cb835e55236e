package hasuratest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

// fakeTB stops at the first Fatal, so a test can check that a helper refuses what it should.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatal runs fn and returns the message it failed with, or "" if it did not fail.
func fatal(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func field(t *testing.T, raw []byte, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return m[name]
}

func body(t *testing.T, req *http.Request) []byte {
	t.Helper()
	b, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEveryRequestCarriesHasurasHeaders(t *testing.T) {
	scheduled := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		req  *http.Request
		path string
	}{
		{"an action request", hasuratest.ActionRequest(t, "earnPoints", map[string]any{}, hasuratest.Anonymous()), "/earnPoints"},
		{"an asynchronous action request", hasuratest.AsyncActionRequest(t, "exportData", nil, hasuratest.Admin()), "/exportData"},
		{"an event request", hasuratest.EventRequest(t, "order_paid", "orders", "INSERT", nil, json.RawMessage(`{}`)), "/order_paid"},
		{"a cron request", hasuratest.CronRequest(t, "expire_points", scheduled, nil), "/expire_points"},
		{"a raw request", hasuratest.RawRequest(t, "anything", []byte(`{}`)), "/anything"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.Method != http.MethodPost || tt.req.URL.Path != tt.path {
				t.Errorf("%s %s, want POST %s", tt.req.Method, tt.req.URL.Path, tt.path)
			}
			want := map[string]string{"Content-Type": "application/json", "User-Agent": hasuratest.UserAgent, hasura.SecretHeader: hasuratest.Secret}
			for h, v := range want {
				if got := tt.req.Header.Get(h); got != v {
					t.Errorf("%s = %q, want %q", h, got, v)
				}
			}
			if !strings.HasPrefix(hasuratest.UserAgent, "hasura-graphql-engine/v2.") {
				t.Errorf("User-Agent %q is not graphql-engine v2's", hasuratest.UserAgent)
			}
			if b := body(t, tt.req); !json.Valid(b) || int64(len(b)) != tt.req.ContentLength {
				t.Errorf("body of %d bytes (Content-Length %d) is not one JSON value: %s", len(b), tt.req.ContentLength, b)
			}
		})
	}
}

func TestSessionHelpersUseHasurasLowerCaseKeys(t *testing.T) {
	tests := []struct {
		name string
		got  map[string]string
		want map[string]string
	}{
		{"a role and a user id", hasuratest.Session("staff", "u-1"), map[string]string{"x-hasura-role": "staff", "x-hasura-user-id": "u-1"}},
		{"a role without a user id leaves the user id out", hasuratest.Session("member", ""), map[string]string{"x-hasura-role": "member"}},
		{"the anonymous session has only the anonymous role", hasuratest.Anonymous(), map[string]string{"x-hasura-role": "anonymous"}},
		{"the admin session has only the admin role", hasuratest.Admin(), map[string]string{"x-hasura-role": "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestActionRequestBodyIsHasurasActionPayload(t *testing.T) {
	type input struct {
		MemberID string `json:"memberId"`
		Amount   int64  `json:"amount"`
	}
	args := map[string]any{"input": input{MemberID: "m-1", Amount: 1200}}
	tests := []struct {
		name      string
		req       *http.Request
		wantQuery string
	}{
		{"a synchronous action carries its query", hasuratest.ActionRequest(t, "earnPoints", args, hasuratest.Session("staff", "s-1")), `"mutation { earnPoints }"`},
		{"an asynchronous action carries a null query", hasuratest.AsyncActionRequest(t, "earnPoints", args, hasuratest.Session("staff", "s-1")), `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := body(t, tt.req)
			if keys := keysOf(t, b); !slices.Equal(keys, []string{"action", "input", "request_query", "session_variables"}) {
				t.Errorf("keys = %v", keys)
			}
			checks := map[string]string{
				"action":            `{"name":"earnPoints"}`,
				"input":             `{"input":{"memberId":"m-1","amount":1200}}`,
				"session_variables": `{"x-hasura-role":"staff","x-hasura-user-id":"s-1"}`,
				"request_query":     tt.wantQuery,
			}
			for k, want := range checks {
				if got := string(field(t, b, k)); got != want {
					t.Errorf("%s = %s, want %s", k, got, want)
				}
			}
		})
	}

	t.Run("a nil session is sent as null", func(t *testing.T) {
		if got := string(field(t, body(t, hasuratest.ActionRequest(t, "a", nil, nil)), "session_variables")); got != "null" {
			t.Errorf("session_variables = %s", got)
		}
	})
	t.Run("raw arguments are sent as they are", func(t *testing.T) {
		raw := json.RawMessage(`{"input":{"amount":"12"}}`)
		if got := string(field(t, body(t, hasuratest.ActionRequest(t, "a", raw, hasuratest.Admin())), "input")); got != string(raw) {
			t.Errorf("input = %s, want %s", got, raw)
		}
	})
}

func TestEventBodyIsHasurasEventPayload(t *testing.T) {
	created := time.Date(2022, 9, 19, 20, 4, 47, 569918000, time.UTC)
	d := hasuratest.Event(t, "order_paid", "orders", "UPDATE", json.RawMessage(`{"id":1,"status":"pending"}`), json.RawMessage(`{"id":1,"status":"paid"}`),
		hasuratest.WithID("85558393-c75d-4d2f-9c15-e80591b83894"), hasuratest.WithCreatedAt(created), hasuratest.WithRetry(3, 1),
		hasuratest.WithSessionVariables(hasuratest.Session("staff", "s-1")), hasuratest.WithTraceContext("t-1", "s-2"))

	if d.ID != "85558393-c75d-4d2f-9c15-e80591b83894" || d.Name != "order_paid" {
		t.Errorf("delivery id %q name %q", d.ID, d.Name)
	}
	if keys := keysOf(t, d.Body); !slices.Equal(keys, []string{"created_at", "delivery_info", "event", "id", "table", "trigger"}) {
		t.Errorf("keys = %v", keys)
	}
	want := map[string]string{
		"id":            `"85558393-c75d-4d2f-9c15-e80591b83894"`,
		"created_at":    `"2022-09-19T20:04:47.569918"`,
		"trigger":       `{"name":"order_paid"}`,
		"table":         `{"schema":"public","name":"orders"}`,
		"delivery_info": `{"max_retries":3,"current_retry":1}`,
		"event": `{"op":"UPDATE","data":{"old":{"id":1,"status":"pending"},"new":{"id":1,"status":"paid"}},` +
			`"session_variables":{"x-hasura-role":"staff","x-hasura-user-id":"s-1"},"trace_context":{"trace_id":"t-1","span_id":"s-2"}}`,
	}
	for k, w := range want {
		if got := string(field(t, d.Body, k)); got != w {
			t.Errorf("%s = %s, want %s", k, got, w)
		}
	}

	t.Run("defaults are a new id, null rows, null session and trace, no retries", func(t *testing.T) {
		a := hasuratest.Event(t, "member_created", "members", "INSERT", nil, json.RawMessage(`{"id":"m"}`))
		b := hasuratest.Event(t, "member_created", "members", "INSERT", nil, json.RawMessage(`{"id":"m"}`))
		if a.ID == b.ID || len(a.ID) != 36 {
			t.Errorf("ids %q and %q, want two distinct UUIDs", a.ID, b.ID)
		}
		ev := string(field(t, a.Body, "event"))
		if ev != `{"op":"INSERT","data":{"old":null,"new":{"id":"m"}},"session_variables":null,"trace_context":null}` {
			t.Errorf("event = %s", ev)
		}
		if got := string(field(t, a.Body, "delivery_info")); got != `{"max_retries":0,"current_retry":0}` {
			t.Errorf("delivery_info = %s", got)
		}
	})
	t.Run("rows that are not JSON are refused", func(t *testing.T) {
		msg := fatal(t, func(tb testing.TB) { hasuratest.Event(tb, "x", "orders", "INSERT", nil, json.RawMessage(`{"id":`)) })
		if !strings.Contains(msg, "not valid JSON") {
			t.Errorf("failed with %q", msg)
		}
	})
	t.Run("a redelivery sends the same bytes", func(t *testing.T) {
		if a, b := body(t, d.Request(t)), body(t, d.Request(t)); string(a) != string(b) || string(a) != string(d.Body) {
			t.Errorf("two requests of one delivery differ:\n%s\n%s", a, b)
		}
	})
}

func TestCronBodyIsHasurasCronPayload(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	tests := []struct {
		name string
		d    hasuratest.Delivery
		want map[string]string
	}{
		{
			"a trigger without a comment leaves the comment out",
			hasuratest.Cron(t, "expire_points", time.Date(2026, 3, 1, 9, 0, 0, 0, tokyo), map[string]int{"batch": 500}, hasuratest.WithID("e1")),
			map[string]string{"id": `"e1"`, "name": `"expire_points"`, "scheduled_time": `"2026-03-01T00:00:00Z"`, "payload": `{"batch":500}`},
		},
		{
			"a trigger with a comment carries it",
			hasuratest.Cron(t, "birthday_bonus", time.Date(2026, 3, 1, 0, 0, 0, 250_000_000, time.UTC), nil, hasuratest.WithID("e2"), hasuratest.WithComment("daily")),
			map[string]string{"id": `"e2"`, "name": `"birthday_bonus"`, "scheduled_time": `"2026-03-01T00:00:00.250Z"`, "payload": `null`, "comment": `"daily"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wantKeys []string
			for k := range tt.want {
				wantKeys = append(wantKeys, k)
			}
			slices.Sort(wantKeys)
			if keys := keysOf(t, tt.d.Body); !slices.Equal(keys, wantKeys) {
				t.Errorf("keys = %v, want %v", keys, wantKeys)
			}
			for k, w := range tt.want {
				if got := string(field(t, tt.d.Body, k)); got != w {
					t.Errorf("%s = %s, want %s", k, got, w)
				}
			}
			if tt.d.ID != strings.Trim(tt.want["id"], `"`) {
				t.Errorf("delivery id = %q", tt.d.ID)
			}
		})
	}
	t.Run("the same id replays one delivery and no id makes a new one", func(t *testing.T) {
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		a := hasuratest.Cron(t, "expire_points", at, nil, hasuratest.WithID("same"))
		b := hasuratest.Cron(t, "expire_points", at, nil, hasuratest.WithID("same"))
		c := hasuratest.Cron(t, "expire_points", at, nil)
		if string(a.Body) != string(b.Body) || c.ID == "" || c.ID == a.ID {
			t.Errorf("a %s, b %s, c %s", a.Body, b.Body, c.Body)
		}
	})
}

func TestTimesAreFormattedAsHasurasAesonWritesThem(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"a whole second has no fraction", time.Date(2022, 9, 19, 20, 4, 47, 0, time.UTC), "2022-09-19T20:04:47"},
		{"whole milliseconds have 3 digits", time.Date(2022, 9, 19, 20, 4, 47, 500_000_000, time.UTC), "2022-09-19T20:04:47.500"},
		{"microseconds have 6 digits", time.Date(2022, 9, 19, 20, 4, 47, 569_918_000, time.UTC), "2022-09-19T20:04:47.569918"},
		{"nanoseconds are written as picoseconds", time.Date(2022, 9, 19, 20, 4, 47, 1, time.UTC), "2022-09-19T20:04:47.000000001000"},
		{"another zone is converted to UTC", time.Date(2022, 9, 20, 5, 4, 47, 0, time.FixedZone("JST", 9*3600)), "2022-09-19T20:04:47"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasuratest.LocalTime(tt.in); got != tt.want {
				t.Errorf("LocalTime = %q, want %q", got, tt.want)
			}
			if got := hasuratest.UTCTime(tt.in); got != tt.want+"Z" {
				t.Errorf("UTCTime = %q, want %q", got, tt.want+"Z")
			}
			var parsed hasura.Time
			if err := json.Unmarshal([]byte(`"`+hasuratest.LocalTime(tt.in)+`"`), &parsed); err != nil || !parsed.Equal(tt.in) {
				t.Errorf("the envelope reads %q back as %v (%v), want %v", hasuratest.LocalTime(tt.in), parsed.Time, err, tt.in)
			}
		})
	}
}

func TestErrorBodyCheckAcceptsOnlyHasurasShape(t *testing.T) {
	jsonType := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name    string
		header  http.Header
		body    string
		wantErr string
	}{
		{"a message and a string code pass", jsonType, `{"message":"no such member","extensions":{"code":"not_found"}}` + "\n", ""},
		{"a charset in the content type passes", http.Header{"Content-Type": {"application/json; charset=utf-8"}}, `{"message":"m","extensions":{"code":"c"}}`, ""},
		{"a numeric code fails", jsonType, `{"message":"m","extensions":{"code":404}}`, "extensions.code"},
		{"an empty code fails", jsonType, `{"message":"m","extensions":{"code":""}}`, "extensions.code"},
		{"a missing message fails", jsonType, `{"extensions":{"code":"c"}}`, "keys"},
		{"an empty message fails", jsonType, `{"message":"","extensions":{"code":"c"}}`, "message"},
		{"a message that is not a string fails", jsonType, `{"message":["m"],"extensions":{"code":"c"}}`, "message"},
		{"an extra top-level key fails", jsonType, `{"message":"m","extensions":{"code":"c"},"error":"x"}`, "keys"},
		{"an extra extensions key fails", jsonType, `{"message":"m","extensions":{"code":"c","detail":"x"}}`, "extensions keys"},
		{"extensions that are not an object fail", jsonType, `{"message":"m","extensions":"c"}`, "extensions"},
		{"a body that is not JSON fails", jsonType, `internal error`, "not a JSON object"},
		{"two JSON values fail", jsonType, `{"message":"m","extensions":{"code":"c"}} {}`, "more than one"},
		{"a text content type fails", http.Header{"Content-Type": {"text/plain"}}, `{"message":"m","extensions":{"code":"c"}}`, "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := hasuratest.CheckErrorBody(tt.header, []byte(tt.body))
			switch {
			case tt.wantErr == "" && err != "":
				t.Errorf("refused: %s", err)
			case tt.wantErr == "" && (body.Message == "" || body.Extensions.Code == ""):
				t.Errorf("accepted but returned %+v", body)
			case tt.wantErr != "" && !strings.Contains(err, tt.wantErr):
				t.Errorf("error %q, want one about %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeErrorAndDecodeOutputFailOnTheWrongAnswer(t *testing.T) {
	record := func(status int, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(status)
		rec.WriteString(body)
		return rec
	}
	type output struct {
		Balance int64 `json:"balance"`
	}
	tests := []struct {
		name    string
		run     func(tb testing.TB)
		wantErr string
	}{
		{"an error answer decodes", func(tb testing.TB) {
			if b := hasuratest.DecodeError(tb, record(409, `{"message":"m","extensions":{"code":"c"}}`)); b.Extensions.Code != "c" {
				tb.Fatalf("code %q", b.Extensions.Code)
			}
		}, ""},
		{"a success is not an error answer", func(tb testing.TB) {
			hasuratest.DecodeError(tb, record(200, `{"message":"m","extensions":{"code":"c"}}`))
		}, "not an error"},
		{"a malformed error body fails", func(tb testing.TB) {
			hasuratest.DecodeError(tb, record(400, `{"message":"m","extensions":{"code":1}}`))
		}, "extensions.code"},
		{"an output decodes", func(tb testing.TB) {
			if o := hasuratest.DecodeOutput[output](tb, record(200, `{"balance":12}`)); o.Balance != 12 {
				tb.Fatalf("balance %d", o.Balance)
			}
		}, ""},
		{"an output with a field outside the type fails", func(tb testing.TB) { hasuratest.DecodeOutput[output](tb, record(200, `{"balance":12,"debug":true}`)) }, "unknown field"},
		{"an error status is not an output", func(tb testing.TB) { hasuratest.DecodeOutput[output](tb, record(400, `{"balance":12}`)) }, "want 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := fatal(t, tt.run)
			if tt.wantErr == "" && msg != "" || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("failed with %q, want %q", msg, tt.wantErr)
			}
		})
	}
}

func TestDeliverConcurrentlyDeliversAllAtOnce(t *testing.T) {
	const n = 8
	var arrived, maxInFlight, inFlight atomic.Int32
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if cur <= m || maxInFlight.CompareAndSwap(m, cur) {
				break
			}
		}
		if arrived.Add(1) == n {
			close(release)
		}
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		inFlight.Add(-1)
		w.WriteHeader(http.StatusNoContent)
	})
	d := hasuratest.Event(t, "order_paid", "orders", "INSERT", nil, json.RawMessage(`{}`))
	recs := hasuratest.DeliverConcurrently(t, h, d, n)
	if len(recs) != n || maxInFlight.Load() != n {
		t.Fatalf("%d responses, at most %d in flight, want %d and %d", len(recs), maxInFlight.Load(), n, n)
	}
	for _, rec := range recs {
		if rec.Code != http.StatusNoContent {
			t.Errorf("status %d", rec.Code)
		}
	}
}

func TestCaptureEventsRefusesWhatHasuraWouldRefuse(t *testing.T) {
	db := pgtest.Pool(t)
	tests := []struct {
		name    string
		trigger string
		table   string
		ops     []string
		wantErr string
	}{
		{"a trigger name with a quote", "it's", "stores", []string{"INSERT"}, "not a valid Hasura trigger name"},
		{"no op at all", "t", "stores", nil, "at least one op"},
		{"an unknown op", "t", "stores", []string{"TRUNCATE"}, "is not INSERT"},
		{"an unknown table", "t", "no_such_table", []string{"INSERT"}, "no table public.no_such_table"},
		{"an update of an unknown column", "t", "stores", []string{hasuratest.UpdateOf("colour")}, `no column "colour"`},
		{"an update of an empty column list", "t", "stores", []string{hasuratest.UpdateOf()}, "is not INSERT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := fatal(t, func(tb testing.TB) { hasuratest.CaptureEvents(tb, db, tt.trigger, tt.table, tt.ops...) })
			if msg == "" || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("failed with %q, want %q", msg, tt.wantErr)
			}
		})
	}
	t.Run("taking events before capturing any fails", func(t *testing.T) {
		fresh := pgtest.Pool(t)
		if msg := fatal(t, func(tb testing.TB) { hasuratest.TakeEvents(tb, fresh, "t") }); !strings.Contains(msg, "before any CaptureEvents") {
			t.Errorf("failed with %q", msg)
		}
	})
	// The refusals above left nothing half-installed.
	var triggers int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'notify_hasura_%'`).Scan(&triggers); err != nil || triggers != 0 {
		t.Errorf("%d triggers installed (%v), want none", triggers, err)
	}
}
