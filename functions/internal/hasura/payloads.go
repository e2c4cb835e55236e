// Package hasura speaks graphql-engine v2's webhook contract: it decodes action requests,
// event-trigger payloads and cron payloads into typed values, checks the shared secret, limits
// body sizes, and writes results and errors in the shape Hasura expects. It knows nothing
// about what the handlers do.
package hasura

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Session holds session_variables. Hasura sends the keys lower-case and the values as
// strings; keys are lower-cased again on decoding so a hand-written request behaves the same.
type Session map[string]string

// Well-known session variables.
const (
	RoleVar   = "x-hasura-role"
	UserIDVar = "x-hasura-user-id"
)

// Role is the caller's x-hasura-role.
func (s Session) Role() string { return s[RoleVar] }

// UserID is the caller's x-hasura-user-id ("" when absent).
func (s Session) UserID() string { return s[UserIDVar] }

func (s *Session) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		*s = nil
		return nil
	}
	out := make(Session, len(raw))
	for k, v := range raw {
		str, ok := v.(string)
		if !ok {
			// A type error, so that the decoder prefixes the path: session_variables.<k>.
			return &json.UnmarshalTypeError{Value: jsonKindOf(v), Type: reflect.TypeFor[string](), Field: k}
		}
		// Hasura sends each key once, in lower case. The same key in two cases would leave
		// the value to map order (X-Hasura-Role: admin beside x-hasura-role: member).
		if _, dup := out[strings.ToLower(k)]; dup {
			return &fieldError{field: "session_variables", msg: fmt.Sprintf("has %s more than once, in different cases", strings.ToLower(k))}
		}
		out[strings.ToLower(k)] = str
	}
	*s = out
	return nil
}

// Time reads the timestamps Hasura writes: RFC 3339 with an offset or a Z, or without a zone
// at all (created_at of an event, which Hasura stores as UTC), with up to nanoseconds.
type Time struct{ time.Time }

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

func (t *Time) UnmarshalJSON(b []byte) error {
	// null leaves the value alone, as encoding/json does for its own types; a required
	// timestamp is checked by validate.
	if string(b) == "null" {
		return nil
	}
	// Errors are type errors, so that the decoder names the field they come from.
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: timeType}
	}
	for _, layout := range timeLayouts {
		if parsed, err := time.Parse(layout, s); err == nil {
			t.Time = parsed.UTC()
			return nil
		}
	}
	return &json.UnmarshalTypeError{Value: strconv.Quote(s), Type: timeType}
}

var timeType = reflect.TypeFor[Time]()

// jsonKind names the kind of a JSON value as encoding/json's type errors do.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// jsonKindOf names the kind of a value decoded into an any.
func jsonKindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case float64, json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

func (t Time) MarshalJSON() ([]byte, error) { return json.Marshal(t.Time.UTC()) }

// Name is the {"name": ...} object Hasura uses for actions and triggers.
type Name struct {
	Name string `json:"name"`
}

// ActionRequest is what Hasura posts for an action. Args holds the action's arguments, keyed
// by their GraphQL names (an action with one argument `input` has Args{Input T `json:"input"`}).
type ActionRequest[Args any] struct {
	Action  Name    `json:"action"`
	Input   Args    `json:"input"`
	Session Session `json:"session_variables"`
	// Null or absent for asynchronous actions.
	RequestQuery *string `json:"request_query"`
}

func (r *ActionRequest[Args]) validate() error {
	switch {
	case r.Action.Name == "":
		return &fieldError{field: "action.name", msg: "is required"}
	case r.Session == nil:
		return &fieldError{field: "session_variables", msg: "is required"}
	case r.Session.Role() == "":
		return &fieldError{field: "session_variables.x-hasura-role", msg: "is required"}
	}
	return nil
}

// Table names a table as schema and name.
type Table struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

// DeliveryInfo tells which attempt this is.
type DeliveryInfo struct {
	MaxRetries   int `json:"max_retries"`
	CurrentRetry int `json:"current_retry"`
}

// retriesLeft: current_retry counts the attempts before this one, so Hasura tries again
// after this attempt only while it is below max_retries.
func (d DeliveryInfo) retriesLeft() bool { return d.CurrentRetry < d.MaxRetries }

// TraceContext is the tracing span Hasura attaches, when it has one.
type TraceContext struct {
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
}

// Event operations.
const (
	OpInsert = "INSERT"
	OpUpdate = "UPDATE"
	OpDelete = "DELETE"
	OpManual = "MANUAL"
)

// RowChange is the old and new row of an event; Old is nil on INSERT, New on DELETE.
type RowChange[Row any] struct {
	Old *Row `json:"old"`
	New *Row `json:"new"`
}

// Event is the change that fired the trigger.
type Event[Row any] struct {
	Op               string         `json:"op"`
	Data             RowChange[Row] `json:"data"`
	SessionVariables Session        `json:"session_variables"`
	TraceContext     *TraceContext  `json:"trace_context"`
}

// EventRequest is what Hasura posts for an event trigger. Row is the table's row as Postgres's
// row_to_json gives it.
type EventRequest[Row any] struct {
	// ID identifies the event; every redelivery carries the same one.
	ID           string       `json:"id"`
	CreatedAt    Time         `json:"created_at"`
	Trigger      Name         `json:"trigger"`
	Table        Table        `json:"table"`
	DeliveryInfo DeliveryInfo `json:"delivery_info"`
	Event        Event[Row]   `json:"event"`
}

func (r *EventRequest[Row]) validate() error {
	switch {
	case r.ID == "":
		return &fieldError{field: "id", msg: "is required"}
	case r.Trigger.Name == "":
		return &fieldError{field: "trigger.name", msg: "is required"}
	case r.Table.Name == "":
		return &fieldError{field: "table.name", msg: "is required"}
	}
	switch r.Event.Op {
	case OpInsert, OpManual:
		if r.Event.Data.New == nil {
			return &fieldError{field: "event.data.new", msg: "is required for " + r.Event.Op}
		}
	case OpUpdate:
		if r.Event.Data.New == nil || r.Event.Data.Old == nil {
			return &fieldError{field: "event.data", msg: "needs old and new for UPDATE"}
		}
	case OpDelete:
		if r.Event.Data.Old == nil {
			return &fieldError{field: "event.data.old", msg: "is required for DELETE"}
		}
	case "":
		return &fieldError{field: "event.op", msg: "is required"}
	default:
		return &fieldError{field: "event.op", msg: fmt.Sprintf("%q is not INSERT, UPDATE, DELETE or MANUAL", r.Event.Op)}
	}
	return nil
}

// CronRequest is what Hasura posts for a cron trigger (Name set) or a one-off scheduled event
// (CreatedAt set). Payload is the trigger's configured payload.
type CronRequest[Payload any] struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	ScheduledTime Time    `json:"scheduled_time"`
	Payload       Payload `json:"payload"`
	Comment       *string `json:"comment"`
	CreatedAt     *Time   `json:"created_at"`
}

func (r *CronRequest[Payload]) validate() error {
	switch {
	case r.ID == "":
		return &fieldError{field: "id", msg: "is required"}
	case r.ScheduledTime.IsZero():
		return &fieldError{field: "scheduled_time", msg: "is required"}
	}
	return nil
}

// fieldError is a decoding problem with one field of the envelope.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return e.field + " " + e.msg }
