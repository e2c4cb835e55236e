// Package hasuratest builds HTTP requests exactly as Hasura graphql-engine v2 sends them to
// actions, event triggers and cron triggers, captures event-trigger payloads from real row
// changes the way Hasura's own Postgres trigger writes them, and reads the answers back.
//
// Every request carries Content-Type application/json, Hasura's User-Agent and the shared
// secret header set to Secret, so a handler under test is built with
// hasura.Envelope{Secret: hasuratest.Secret}.
package hasuratest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
)

// Secret is the shared secret every request built here carries in hasura.SecretHeader.
const Secret = "test-action-secret-0123456789abcdef"

// UserAgent is what graphql-engine sends as its User-Agent.
const UserAgent = "hasura-graphql-engine/v2.48.3"

// Session returns session variables as Hasura sends them: lower-case keys, string values.
// userID is left out when empty.
func Session(role, userID string) map[string]string {
	s := map[string]string{hasura.RoleVar: role}
	if userID != "" {
		s[hasura.UserIDVar] = userID
	}
	return s
}

// Anonymous is the session of a signed-out caller (HASURA_GRAPHQL_UNAUTHORIZED_ROLE=anonymous).
func Anonymous() map[string]string { return Session("anonymous", "") }

// Admin is the session of a request made with the admin secret and no role header.
func Admin() map[string]string { return Session("admin", "") }

// RawRequest returns a POST to path with Hasura's headers and exactly body, for tests that need
// a body no constructor here would build (a wrong type, a missing field, a malformed one).
func RawRequest(t testing.TB, path string, body []byte) *http.Request {
	t.Helper()
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(hasura.SecretHeader, Secret)
	return req
}

// ActionRequest returns the request Hasura posts to "/"+name for a synchronous action: args
// are the action's arguments keyed by their GraphQL names (a struct, a map, or a
// json.RawMessage); session is sent as session_variables (nil sends null).
func ActionRequest(t testing.TB, name string, args any, session map[string]string) *http.Request {
	t.Helper()
	query := fmt.Sprintf("mutation { %s }", name)
	return actionRequest(t, name, args, session, &query)
}

// AsyncActionRequest is ActionRequest for an asynchronous action: request_query is null.
func AsyncActionRequest(t testing.TB, name string, args any, session map[string]string) *http.Request {
	t.Helper()
	return actionRequest(t, name, args, session, nil)
}

func actionRequest(t testing.TB, name string, args any, session map[string]string, query *string) *http.Request {
	t.Helper()
	body := struct {
		Action       hasura.Name       `json:"action"`
		Input        any               `json:"input"`
		Session      map[string]string `json:"session_variables"`
		RequestQuery *string           `json:"request_query"`
	}{hasura.Name{Name: name}, args, session, query}
	return RawRequest(t, "/"+name, marshal(t, body))
}

// Delivery is one event or cron delivery: the body Hasura sends and where it sends it. Send
// it again with Request to redeliver the same event (same id), as Hasura does at least once.
type Delivery struct {
	ID   string // the event's id, the idempotency key
	Name string // the trigger's name; the request goes to "/"+Name
	Body []byte // the JSON body, ready to send
}

// Request returns a new request carrying d's body; call it once per delivery.
func (d Delivery) Request(t testing.TB) *http.Request {
	t.Helper()
	return RawRequest(t, "/"+d.Name, d.Body)
}

// WithDeliveryInfo returns d with delivery_info set, as Hasura sends it on a retry: same id,
// same event, current_retry counting the attempts before this one. d must be an event.
func (d Delivery) WithDeliveryInfo(maxRetries, currentRetry int) Delivery {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(d.Body, &body); err != nil {
		panic(fmt.Sprintf("hasuratest: delivery body is not a JSON object: %v", err))
	}
	if _, ok := body["delivery_info"]; !ok {
		panic("hasuratest: WithDeliveryInfo on a delivery that is not an event")
	}
	info, _ := json.Marshal(hasura.DeliveryInfo{MaxRetries: maxRetries, CurrentRetry: currentRetry})
	body["delivery_info"] = info
	out, err := encode(body)
	if err != nil {
		panic(err)
	}
	d.Body = out
	return d
}

// Option sets a detail of an event or cron body that the constructors otherwise fill in.
type Option func(*options)

type options struct {
	id           string
	createdAt    time.Time
	maxRetries   int
	currentRetry int
	session      map[string]string
	trace        *hasura.TraceContext
	comment      *string
}

// WithID sets the event or cron id (default: a new random UUID).
func WithID(id string) Option { return func(o *options) { o.id = id } }

// WithCreatedAt sets an event's created_at (default: now).
func WithCreatedAt(t time.Time) Option { return func(o *options) { o.createdAt = t } }

// WithRetry sets an event's delivery_info (default: max_retries 0, current_retry 0).
func WithRetry(maxRetries, currentRetry int) Option {
	return func(o *options) { o.maxRetries, o.currentRetry = maxRetries, currentRetry }
}

// WithSessionVariables sets event.session_variables: those of the GraphQL mutation that changed
// the row (default: null, as for a change made outside Hasura).
func WithSessionVariables(s map[string]string) Option { return func(o *options) { o.session = s } }

// WithTraceContext sets event.trace_context (default: null).
func WithTraceContext(traceID, spanID string) Option {
	return func(o *options) { o.trace = &hasura.TraceContext{TraceID: traceID, SpanID: spanID} }
}

// WithComment sets a cron trigger's comment (default: none, and Hasura then omits the field).
func WithComment(c string) Option { return func(o *options) { o.comment = &c } }

func newOptions(opts []Option) options {
	o := options{createdAt: time.Now()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.id == "" {
		o.id = NewUUID()
	}
	return o
}

// eventBody is the body of an event-trigger delivery, in the order Hasura's docs list it.
type eventBody struct {
	ID           string              `json:"id"`
	CreatedAt    string              `json:"created_at"`
	Trigger      hasura.Name         `json:"trigger"`
	Table        hasura.Table        `json:"table"`
	DeliveryInfo hasura.DeliveryInfo `json:"delivery_info"`
	Event        eventPart           `json:"event"`
}

type eventPart struct {
	Op               string          `json:"op"`
	Data             json.RawMessage `json:"data"`
	SessionVariables json.RawMessage `json:"session_variables"`
	TraceContext     json.RawMessage `json:"trace_context"`
}

// Event builds the delivery Hasura makes for trigger on public.table: op is INSERT, UPDATE,
// DELETE or MANUAL; oldRow and newRow are the rows as row_to_json gives them (nil is null).
func Event(t testing.TB, trigger, table, op string, oldRow, newRow json.RawMessage, opts ...Option) Delivery {
	t.Helper()
	o := newOptions(opts)
	data := []byte(`{"old":` + string(jsonOrNull(t, "old row", oldRow)) + `,"new":` + string(jsonOrNull(t, "new row", newRow)) + `}`)
	return eventDelivery(t, trigger, "public", table, op, o, data, marshal(t, o.session), traceJSON(t, o.trace))
}

// EventRequest is Event(...).Request(t), for a single delivery.
func EventRequest(t testing.TB, trigger, table, op string, oldRow, newRow json.RawMessage, opts ...Option) *http.Request {
	t.Helper()
	return Event(t, trigger, table, op, oldRow, newRow, opts...).Request(t)
}

func eventDelivery(t testing.TB, trigger, schema, table, op string, o options, data, session, trace json.RawMessage) Delivery {
	t.Helper()
	body := eventBody{
		ID:           o.id,
		CreatedAt:    LocalTime(o.createdAt),
		Trigger:      hasura.Name{Name: trigger},
		Table:        hasura.Table{Schema: schema, Name: table},
		DeliveryInfo: hasura.DeliveryInfo{MaxRetries: o.maxRetries, CurrentRetry: o.currentRetry},
		Event:        eventPart{Op: op, Data: data, SessionVariables: session, TraceContext: trace},
	}
	b, err := encode(body)
	if err != nil {
		t.Fatalf("hasuratest: encode event: %v", err)
	}
	return Delivery{ID: o.id, Name: trigger, Body: b}
}

// cronBody is the body of a cron-trigger delivery. Hasura leaves out comment when the trigger
// has none (its payload type is encoded with omitNothingFields).
type cronBody struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	ScheduledTime string  `json:"scheduled_time"`
	Payload       any     `json:"payload"`
	Comment       *string `json:"comment,omitempty"`
}

// Cron builds the delivery Hasura makes for the cron trigger name scheduled at scheduled, with
// the trigger's configured payload (nil is null). Pass WithID to replay one delivery.
func Cron(t testing.TB, name string, scheduled time.Time, payload any, opts ...Option) Delivery {
	t.Helper()
	o := newOptions(opts)
	b := marshal(t, cronBody{ID: o.id, Name: name, ScheduledTime: UTCTime(scheduled), Payload: payload, Comment: o.comment})
	return Delivery{ID: o.id, Name: name, Body: b}
}

// CronRequest is Cron(...).Request(t), for a single delivery.
func CronRequest(t testing.TB, name string, scheduled time.Time, payload any, opts ...Option) *http.Request {
	t.Helper()
	return Cron(t, name, scheduled, payload, opts...).Request(t)
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// LocalTime formats t in UTC as Hasura writes an event's created_at (a Haskell LocalTime read
// from a timestamp column, encoded by aeson): no zone, and the fraction of a second cut to 3 or
// 6 digits, or left out when zero: "2022-09-19T20:04:47.569918".
func LocalTime(t time.Time) string {
	t = t.UTC()
	return t.Format("2006-01-02T15:04:05") + fraction(t.Nanosecond())
}

// UTCTime formats t as Hasura writes a scheduled_time (aeson's UTCTime): LocalTime and a Z.
func UTCTime(t time.Time) string { return LocalTime(t) + "Z" }

// fraction writes the fraction of a second as aeson does: picoseconds, with trailing zeros
// removed in groups of 3 and 6.
func fraction(ns int) string {
	switch {
	case ns == 0:
		return ""
	case ns%1_000_000 == 0:
		return fmt.Sprintf(".%03d", ns/1_000_000)
	case ns%1_000 == 0:
		return fmt.Sprintf(".%06d", ns/1_000)
	default:
		return fmt.Sprintf(".%09d000", ns)
	}
}

func jsonOrNull(t testing.TB, what string, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	if !json.Valid(raw) {
		t.Fatalf("hasuratest: %s is not valid JSON: %s", what, raw)
	}
	return raw
}

func traceJSON(t testing.TB, tc *hasura.TraceContext) json.RawMessage {
	t.Helper()
	if tc == nil {
		return json.RawMessage("null")
	}
	return marshal(t, tc)
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := encode(v)
	if err != nil {
		t.Fatalf("hasuratest: encode request body: %v", err)
	}
	return b
}

// encode is json.Marshal without HTML escaping, so raw row JSON keeps its bytes (<, >, &).
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
