package hasura_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
)

// Argument, row and payload types shaped like the project's.

type earnInput struct {
	MemberID  string `json:"memberId"`
	Amount    int64  `json:"amount"`
	ReceiptNo string `json:"receiptNo"`
}

type earnArgs struct {
	Input earnInput `json:"input"`
}

type earnOutput struct {
	Earned  int64 `json:"earned"`
	Balance int64 `json:"balance"`
}

type orderRow struct {
	ID       string       `json:"id"`
	MemberID *string      `json:"member_id"`
	Amount   int64        `json:"amount"`
	Status   string       `json:"status"`
	PaidAt   hasura.Time  `json:"paid_at"`
	Refunded *hasura.Time `json:"refunded_at"`
}

type expiryPayload struct {
	Batch int `json:"batch"`
}

const (
	eventID = "85558393-c75d-4d2f-9c15-e80591b83894"
	cronID  = "0ff5b6c3-1b0e-4a39-8d3b-94c1f1f1a001"
)

var discard = slog.New(slog.DiscardHandler)

// newEnv is the envelope every test starts from: the test secret, no logs, failures kept.
func newEnv(failures *failureLog) *hasura.Envelope {
	env := &hasura.Envelope{Secret: hasuratest.Secret, Logger: discard}
	if failures != nil {
		env.Failures = failures
	}
	return env
}

// failureLog is an in-memory hasura.FailureRecorder.
type failureLog struct {
	mu       sync.Mutex
	failures []hasura.Failure
	ctxErrs  []error
	err      error // what RecordFailure returns
}

func (f *failureLog) RecordFailure(ctx context.Context, fl hasura.Failure) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, fl)
	f.ctxErrs = append(f.ctxErrs, ctx.Err())
	return f.err
}

func (f *failureLog) all() []hasura.Failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.failures)
}

// spy records what a handler function was called with.
type spy[Req any] struct {
	mu   sync.Mutex
	reqs []*Req
}

func (s *spy[Req]) record(r *Req) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
}

func (s *spy[Req]) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *spy[Req]) only(t *testing.T) *Req {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) != 1 {
		t.Fatalf("the handler function ran %d times, want once", len(s.reqs))
	}
	return s.reqs[0]
}

// result is what a handler function under test answers.
type result func(ctx context.Context) (any, error)

func ok(out any) result { return func(context.Context) (any, error) { return out, nil } }

func fails(err error) result { return func(context.Context) (any, error) { return nil, err } }

// kind is one of the three kinds of handler, with a valid request for it.
type kind struct {
	name    string
	trigger bool // event and cron triggers are retried by Hasura; actions are not
	serve   func(env *hasura.Envelope, res result, calls *int) http.Handler
	request func(t *testing.T) *http.Request
}

var orderJSON = json.RawMessage(`{"id":"0c4f7a2e-6f55-4f1e-9d0a-3f3b1b8a1c01","member_id":"5e0c0b8a-0000-4000-8000-0000000000c1","amount":1200,"status":"paid","paid_at":"2026-01-02T03:04:05.123456+00:00"}`)

var kinds = []kind{
	{
		name: "an action",
		serve: func(env *hasura.Envelope, res result, calls *int) http.Handler {
			var mu sync.Mutex
			return hasura.Action(env, func(ctx context.Context, _ *hasura.ActionRequest[earnArgs]) (any, error) {
				mu.Lock()
				*calls++
				mu.Unlock()
				return res(ctx)
			})
		},
		request: func(t *testing.T) *http.Request {
			return hasuratest.ActionRequest(t, "earnPoints", earnArgs{Input: earnInput{MemberID: "m-1", Amount: 1200, ReceiptNo: "R-1"}}, hasuratest.Session("staff", "s-1"))
		},
	},
	{
		name:    "an event trigger",
		trigger: true,
		serve: func(env *hasura.Envelope, res result, calls *int) http.Handler {
			var mu sync.Mutex
			return hasura.EventTrigger(env, func(ctx context.Context, _ *hasura.EventRequest[orderRow]) (any, error) {
				mu.Lock()
				*calls++
				mu.Unlock()
				return res(ctx)
			})
		},
		request: func(t *testing.T) *http.Request {
			return hasuratest.EventRequest(t, "order_paid", "orders", hasura.OpInsert, nil, orderJSON, hasuratest.WithID(eventID), hasuratest.WithRetry(3, 2))
		},
	},
	{
		name:    "a cron trigger",
		trigger: true,
		serve: func(env *hasura.Envelope, res result, calls *int) http.Handler {
			var mu sync.Mutex
			return hasura.CronTrigger(env, func(ctx context.Context, _ *hasura.CronRequest[expiryPayload]) (any, error) {
				mu.Lock()
				*calls++
				mu.Unlock()
				return res(ctx)
			})
		},
		request: func(t *testing.T) *http.Request {
			return hasuratest.CronRequest(t, "expire_points", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), expiryPayload{Batch: 500}, hasuratest.WithID(cronID))
		},
	},
}

// checkErrorShape fails unless rec is status with exactly Hasura's error body, decoded into
// map[string]any so that a wrong type cannot hide behind a Go struct; it returns the body.
func checkErrorShape(t *testing.T, rec *httptest.ResponseRecorder, status int) hasura.Body {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, rec.Body)
	}
	if len(m) != 2 {
		t.Errorf("body has keys %v, want exactly message and extensions", keys(m))
	}
	msg, isString := m["message"].(string)
	if !isString || msg == "" {
		t.Errorf("message = %#v, want a non-empty string", m["message"])
	}
	ext, isObject := m["extensions"].(map[string]any)
	if !isObject {
		t.Fatalf("extensions = %#v, want an object", m["extensions"])
	}
	if len(ext) != 1 {
		t.Errorf("extensions has keys %v, want exactly code", keys(ext))
	}
	code, isString := ext["code"].(string)
	if !isString || code == "" {
		t.Errorf("extensions.code = %#v, want a non-empty string", ext["code"])
	}
	return hasura.Body{Message: msg, Extensions: hasura.Extensions{Code: code}}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// doc is a JSON document to take apart: tests start from a valid body and change one field.
type doc map[string]any

func parseDoc(t testing.TB, s string) doc {
	t.Helper()
	var d doc
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return d
}

// parent walks to the object holding the last element of a dotted path.
func (d doc) parent(t testing.TB, path string) (map[string]any, string) {
	t.Helper()
	parts := strings.Split(path, ".")
	m := map[string]any(d)
	for _, p := range parts[:len(parts)-1] {
		next, isObject := m[p].(map[string]any)
		if !isObject {
			t.Fatalf("%s: %s is not an object", path, p)
		}
		m = next
	}
	return m, parts[len(parts)-1]
}

// with returns a copy of d with path set to the JSON value raw.
func (d doc) with(t testing.TB, path, raw string) doc {
	t.Helper()
	c := d.clone(t)
	m, last := c.parent(t, path)
	m[last] = json.RawMessage(raw)
	return c
}

// without returns a copy of d without path.
func (d doc) without(t testing.TB, path string) doc {
	t.Helper()
	c := d.clone(t)
	m, last := c.parent(t, path)
	delete(m, last)
	return c
}

func (d doc) clone(t testing.TB) doc {
	t.Helper()
	return parseDoc(t, string(d.bytes(t)))
}

func (d doc) bytes(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const actionJSON = `{
  "action": {"name": "earnPoints"},
  "input": {"input": {"memberId": "m-1", "amount": 1200, "receiptNo": "R-1"}},
  "session_variables": {"x-hasura-role": "staff", "x-hasura-user-id": "s-1"},
  "request_query": "mutation { earnPoints(input: {memberId: \"m-1\", amount: 1200, receiptNo: \"R-1\"}) { earned balance } }"
}`

const eventJSON = `{
  "id": "85558393-c75d-4d2f-9c15-e80591b83894",
  "created_at": "2022-09-19T20:04:47.569918",
  "trigger": {"name": "order_paid"},
  "table": {"schema": "public", "name": "orders"},
  "delivery_info": {"max_retries": 3, "current_retry": 1},
  "event": {
    "op": "UPDATE",
    "data": {
      "old": {"id": "0c4f7a2e-6f55-4f1e-9d0a-3f3b1b8a1c01", "member_id": null, "amount": 1200, "status": "pending", "paid_at": "2026-01-02T03:04:05.123456+00:00", "refunded_at": null},
      "new": {"id": "0c4f7a2e-6f55-4f1e-9d0a-3f3b1b8a1c01", "member_id": "5e0c0b8a-0000-4000-8000-0000000000c1", "amount": 1200, "status": "paid", "paid_at": "2026-01-02T03:04:05.123456+00:00", "refunded_at": null}
    },
    "session_variables": {"x-hasura-role": "staff", "x-hasura-user-id": "s-1"},
    "trace_context": {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"}
  }
}`

const cronJSON = `{
  "id": "0ff5b6c3-1b0e-4a39-8d3b-94c1f1f1a001",
  "name": "expire_points",
  "scheduled_time": "2026-03-01T00:00:00Z",
  "payload": {"batch": 500},
  "comment": "nightly expiry"
}`

// serveAction, serveEvent and serveCron run one request through a handler that records the
// decoded request and answers out.
func serveAction[Args any](t *testing.T, env *hasura.Envelope, body []byte) (*httptest.ResponseRecorder, *spy[hasura.ActionRequest[Args]]) {
	t.Helper()
	s := &spy[hasura.ActionRequest[Args]]{}
	h := hasura.Action(env, func(_ context.Context, req *hasura.ActionRequest[Args]) (earnOutput, error) {
		s.record(req)
		return earnOutput{Earned: 12, Balance: 112}, nil
	})
	return hasuratest.Do(t, h, hasuratest.RawRequest(t, "/earnPoints", body)), s
}

func serveEvent[Row any](t *testing.T, env *hasura.Envelope, body []byte) (*httptest.ResponseRecorder, *spy[hasura.EventRequest[Row]]) {
	t.Helper()
	s := &spy[hasura.EventRequest[Row]]{}
	h := hasura.EventTrigger(env, func(_ context.Context, req *hasura.EventRequest[Row]) (map[string]string, error) {
		s.record(req)
		return map[string]string{"status": "done"}, nil
	})
	return hasuratest.Do(t, h, hasuratest.RawRequest(t, "/order_paid", body)), s
}

func serveCron[Payload any](t *testing.T, env *hasura.Envelope, body []byte) (*httptest.ResponseRecorder, *spy[hasura.CronRequest[Payload]]) {
	t.Helper()
	s := &spy[hasura.CronRequest[Payload]]{}
	h := hasura.CronTrigger(env, func(_ context.Context, req *hasura.CronRequest[Payload]) (map[string]int, error) {
		s.record(req)
		return map[string]int{"expired": 3}, nil
	})
	return hasuratest.Do(t, h, hasuratest.RawRequest(t, "/expire_points", body)), s
}

// refused checks a 400 invalid_input whose message starts with the field it names.
func refused(t *testing.T, rec *httptest.ResponseRecorder, calls int, field string) {
	t.Helper()
	body := checkErrorShape(t, rec, http.StatusBadRequest)
	if body.Extensions.Code != hasura.InvalidInput {
		t.Errorf("code = %q, want %q", body.Extensions.Code, hasura.InvalidInput)
	}
	if !strings.HasPrefix(body.Message, field+" ") {
		t.Errorf("message %q does not start with the field %q", body.Message, field)
	}
	if calls != 0 {
		t.Errorf("the handler function ran %d times for a refused request", calls)
	}
}

func ptr[T any](v T) *T { return &v }
