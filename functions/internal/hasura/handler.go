package hasura

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretHeader carries the shared secret that Hasura's metadata sets from its env ACTION_SECRET.
const SecretHeader = "X-Action-Secret"

// Envelope holds what every handler shares.
type Envelope struct {
	Secret string // compared with X-Action-Secret on every request
	// PreviousSecret is also accepted while a rotation is under way (ACTION_SECRET_PREVIOUS),
	// so Hasura may switch to Secret at its own pace; empty, only Secret is.
	PreviousSecret string
	MaxBody        int64        // largest accepted body in bytes; 0 means DefaultMaxBody
	Logger         *slog.Logger // nil means slog.Default()
	// RetryAfter is the pause a trigger asks for after a transient failure; 0 means 10 s.
	RetryAfter time.Duration
	// Failures, when set, records every failed trigger delivery so an operator can see it.
	Failures FailureRecorder
}

// DefaultMaxBody fits any action input and a row of any of our tables with room to spare.
const DefaultMaxBody = 256 << 10

// FailureRecorder keeps a record of trigger deliveries that failed.
type FailureRecorder interface {
	RecordFailure(ctx context.Context, f Failure) error
}

// Failure is one failed delivery of an event or cron trigger.
type Failure struct {
	Trigger    string
	DeliveryID string
	Payload    []byte
	Status     int
	Error      string
	Attempt    int
}

// Error is an answer the caller can act on: a 4xx with a stable code.
type Error struct {
	Status  int
	Code    string
	Message string
	// LogMessage, when set, is what the log line says instead of Message: the caller may be
	// told a live coupon code it sent, the log (read by more people, kept longer) may not.
	LogMessage string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// logText is err as a log line may show it.
func logText(err error) string {
	var e *Error
	if errors.As(err, &e) && e.LogMessage != "" {
		return e.Code + ": " + e.LogMessage
	}
	return err.Error()
}

// InvalidInput is the code of malformed requests.
const InvalidInput = "invalid_input"

// Temporary is implemented by errors a retry may cure (database unreachable, serialization
// failures that outlived their retries). They become 503s, with Retry-After for triggers.
type Temporary interface {
	Temporary() bool
}

// Body is the 4xx body Hasura expects: a string message and a string extensions.code.
type Body struct {
	Message    string     `json:"message"`
	Extensions Extensions `json:"extensions"`
}

// Extensions carries the error code.
type Extensions struct {
	Code string `json:"code"`
}

type kind int

const (
	kindAction kind = iota
	kindEvent
	kindCron
)

// Action serves an action whose handler takes the decoded request and returns the output type.
func Action[Args, Out any](env *Envelope, fn func(context.Context, *ActionRequest[Args]) (Out, error)) http.Handler {
	return env.serve(kindAction, func(ctx context.Context, body []byte, log *slog.Logger) (any, *slog.Logger, string, error) {
		var req ActionRequest[Args]
		if err := decode(body, &req); err != nil {
			return nil, log, "", err
		}
		// user_id names who acted, so a disputed credit can be traced to a person.
		log = log.With("action", req.Action.Name, "role", req.Session.Role(), "user_id", req.Session.UserID())
		annotate(ctx, AttrActionName.String(req.Action.Name), AttrRole.String(req.Session.Role()))
		out, err := fn(ctx, &req)
		return out, log, req.Action.Name, err
	})
}

// EventTrigger serves an event trigger. The returned value is written as the 2xx body, which
// Hasura keeps in its invocation log.
func EventTrigger[Row, Out any](env *Envelope, fn func(context.Context, *EventRequest[Row]) (Out, error)) http.Handler {
	return env.serve(kindEvent, func(ctx context.Context, body []byte, log *slog.Logger) (any, *slog.Logger, string, error) {
		var req EventRequest[Row]
		if err := decode(body, &req); err != nil {
			// Name what can be read of it, so the failure record says which delivery it was.
			var probe struct {
				ID           string       `json:"id"`
				Trigger      Name         `json:"trigger"`
				DeliveryInfo DeliveryInfo `json:"delivery_info"`
			}
			_ = json.Unmarshal(body, &probe)
			withDelivery(ctx, probe.Trigger.Name, probe.ID, probe.DeliveryInfo.CurrentRetry, probe.DeliveryInfo.retriesLeft())
			return nil, log, probe.Trigger.Name, err
		}
		log = log.With("trigger", req.Trigger.Name, "event_id", req.ID, "op", req.Event.Op, "attempt", req.DeliveryInfo.CurrentRetry)
		// The user whose change fired the trigger, when Hasura knows one (none for a POS or SQL).
		if uid := req.Event.SessionVariables.UserID(); uid != "" {
			log = log.With("user_id", uid)
		}
		// trace_id is on the line already: telemetry parents the span on event.trace_context.
		annotate(ctx, AttrTriggerName.String(req.Trigger.Name), AttrEventID.String(req.ID), AttrEventOp.String(req.Event.Op), AttrAttempt.Int(req.DeliveryInfo.CurrentRetry))
		ctx = withDelivery(ctx, req.Trigger.Name, req.ID, req.DeliveryInfo.CurrentRetry, req.DeliveryInfo.retriesLeft())
		out, err := fn(ctx, &req)
		return out, log, req.Trigger.Name, err
	})
}

// CronTrigger serves a cron trigger or a one-off scheduled event.
func CronTrigger[Payload, Out any](env *Envelope, fn func(context.Context, *CronRequest[Payload]) (Out, error)) http.Handler {
	return env.serve(kindCron, func(ctx context.Context, body []byte, log *slog.Logger) (any, *slog.Logger, string, error) {
		var req CronRequest[Payload]
		if err := decode(body, &req); err != nil {
			var probe struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			}
			_ = json.Unmarshal(body, &probe)
			withDelivery(ctx, probe.Name, probe.ID, 0, true)
			return nil, log, probe.Name, err
		}
		log = log.With("trigger", req.Name, "event_id", req.ID, "scheduled_time", req.ScheduledTime.Time)
		annotate(ctx, AttrTriggerName.String(req.Name), AttrEventID.String(req.ID))
		// A cron delivery does not say which attempt it is: Hasura stops after retry_conf's
		// num_retries whatever we answer, so a pause is always worth asking for.
		ctx = withDelivery(ctx, req.Name, req.ID, 0, true)
		out, err := fn(ctx, &req)
		return out, log, req.Name, err
	})
}

type handleFunc func(ctx context.Context, body []byte, log *slog.Logger) (out any, _ *slog.Logger, name string, _ error)

func (env *Envelope) serve(k kind, handle handleFunc) http.Handler {
	secrets := env.secrets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		log := withTrace(r.Context(), env.logger().With("path", r.URL.Path))
		// The secret comes first: nothing else runs for a caller that is not Hasura.
		if !secretMatches(secretOf(r), secrets) {
			log.Warn("rejected request without the shared secret", "status", http.StatusUnauthorized)
			closeAfter(w)
			writeJSON(w, http.StatusUnauthorized, Body{Message: "missing or wrong " + SecretHeader, Extensions: Extensions{Code: "unauthorized"}})
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, Body{Message: "use POST", Extensions: Extensions{Code: InvalidInput}})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, env.maxBody()))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				msg := fmt.Sprintf("request body is larger than %d bytes", tooLarge.Limit)
				if k != kindAction {
					// It will fail on every retry: an operator must hear of it. Only the
					// path names the trigger; the body was not read whole.
					env.recordFailure(r.Context(), log, strings.TrimPrefix(r.URL.Path, "/"), nil, http.StatusRequestEntityTooLarge, errors.New(msg))
				}
				closeAfter(w)
				writeJSON(w, http.StatusRequestEntityTooLarge, Body{Message: msg, Extensions: Extensions{Code: InvalidInput}})
				return
			}
			writeJSON(w, http.StatusBadRequest, Body{Message: "could not read the request body", Extensions: Extensions{Code: InvalidInput}})
			return
		}
		// The handle functions note the delivery they decoded here, for the failure record.
		ctx := context.WithValue(r.Context(), deliveryKey{}, &delivery{})
		out, log, name, err := handle(ctx, body, log)
		if err == nil {
			// Encoded before the status is sent: an output encoding/json refuses (NaN, a
			// channel) must not become a 200 with an empty body.
			payload, encErr := encodeJSON(out)
			if encErr == nil {
				writeBody(w, http.StatusOK, payload)
				log.Info("handled", "status", http.StatusOK, "duration_ms", time.Since(start).Milliseconds())
				return
			}
			err = fmt.Errorf("encode the output: %w", encErr)
		}
		status, answer := env.errorAnswer(k, err)
		if status >= 500 {
			log.Error("failed", "status", status, "error", err, "duration_ms", time.Since(start).Milliseconds())
		} else {
			log.Warn("refused", "status", status, "code", answer.Extensions.Code, "error", logText(err), "duration_ms", time.Since(start).Milliseconds())
		}
		if k != kindAction {
			env.recordFailure(ctx, log, name, body, status, err)
			// Once Hasura's retries are spent, no pause is asked for: the failure waits in
			// trigger_failures for an operator (loyaltyctl failures replay).
			if status == http.StatusServiceUnavailable && deliveryFrom(ctx).retriesLeft {
				w.Header().Set("Retry-After", strconv.Itoa(int(env.retryAfter().Seconds())))
			}
		}
		writeJSON(w, status, answer)
	})
}

// errorAnswer maps an error to a status and Hasura's error body. Only 4xx bodies reach the
// app; Hasura shows 5xx as a bare "internal error", so they carry no detail worth hiding.
func (env *Envelope) errorAnswer(k kind, err error) (int, Body) {
	var userErr *Error
	if errors.As(err, &userErr) {
		status := userErr.Status
		if status < 400 || status > 499 {
			status = http.StatusBadRequest
		}
		// Hasura needs a message and a code: never send them empty.
		msg, code := userErr.Message, userErr.Code
		if msg == "" {
			msg = http.StatusText(status)
		}
		if code == "" {
			code = InvalidInput
		}
		return status, Body{Message: msg, Extensions: Extensions{Code: code}}
	}
	var decodeErr *decodeError
	if errors.As(err, &decodeErr) {
		return http.StatusBadRequest, Body{Message: decodeErr.Error(), Extensions: Extensions{Code: InvalidInput}}
	}
	if isTemporary(err) {
		return http.StatusServiceUnavailable, Body{Message: "temporarily unavailable, try again", Extensions: Extensions{Code: "unavailable"}}
	}
	return http.StatusInternalServerError, Body{Message: "internal error", Extensions: Extensions{Code: "internal"}}
}

func isTemporary(err error) bool {
	var t Temporary
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

func (env *Envelope) recordFailure(ctx context.Context, log *slog.Logger, name string, body []byte, status int, err error) {
	if env.Failures == nil {
		return
	}
	d := deliveryFrom(ctx)
	f := Failure{Trigger: name, DeliveryID: d.id, Payload: body, Status: status, Error: err.Error(), Attempt: d.attempt}
	// The request's context may be what failed; the record must still be written.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := env.Failures.RecordFailure(rctx, f); rerr != nil {
		log.Error("could not record the failed delivery", "error", rerr)
	}
}

type deliveryKey struct{}

type delivery struct {
	trigger, id string
	attempt     int
	// retriesLeft: Hasura will deliver this event again after a failure.
	retriesLeft bool
}

// withDelivery notes which delivery ctx serves. serve puts an empty note in the context before
// decoding, fills it through here, and reads it back for the failure record after the handler
// returned: a value added with context.WithValue inside the handler would not reach it.
func withDelivery(ctx context.Context, trigger, id string, attempt int, retriesLeft bool) context.Context {
	d := delivery{trigger: trigger, id: id, attempt: attempt, retriesLeft: retriesLeft}
	if note, ok := ctx.Value(deliveryKey{}).(*delivery); ok {
		*note = d
		return ctx
	}
	return context.WithValue(ctx, deliveryKey{}, &d)
}

func deliveryFrom(ctx context.Context) delivery {
	if note, ok := ctx.Value(deliveryKey{}).(*delivery); ok {
		return *note
	}
	return delivery{}
}

// secrets are the values X-Action-Secret may hold: the current one, then the previous one
// during a rotation.
func (env *Envelope) secrets() [][]byte {
	s := [][]byte{[]byte(env.Secret)}
	if env.PreviousSecret != "" {
		s = append(s, []byte(env.PreviousSecret))
	}
	return s
}

// secretOf is the caller's X-Action-Secret; "" (never accepted) when it sent several, which
// Hasura never does: which one counts would depend on who reads the headers.
func secretOf(r *http.Request) string {
	if v := r.Header.Values(SecretHeader); len(v) == 1 {
		return v[0]
	}
	return ""
}

// closeAfter makes net/http close the connection after this answer instead of reading the
// rest of an unread body first (before the answer, and again when the body is closed): a
// refused caller could otherwise keep it busy by sending that body slowly. The past read
// deadline ends that second read at once; a recorder in tests does not support it.
func closeAfter(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// secretMatches compares got with every accepted secret, all of them each time, so the time
// taken tells nothing about which one (or how much of one) matched.
func secretMatches(got string, want [][]byte) bool {
	ok := 0
	for _, w := range want {
		// An empty configured secret would let anyone in; config refuses it, and so does this.
		if len(w) > 0 {
			ok |= subtle.ConstantTimeCompare([]byte(got), w)
		}
	}
	return ok == 1
}

func (env *Envelope) logger() *slog.Logger {
	if env.Logger != nil {
		return env.Logger
	}
	return slog.Default()
}

func (env *Envelope) maxBody() int64 {
	if env.MaxBody > 0 {
		return env.MaxBody
	}
	return DefaultMaxBody
}

func (env *Envelope) retryAfter() time.Duration {
	if env.RetryAfter >= time.Second {
		return env.RetryAfter
	}
	return 10 * time.Second
}

// decodeError is a body that is not valid JSON or does not fit the expected shape.
type decodeError struct{ msg string }

func (e *decodeError) Error() string { return e.msg }

type validator interface{ validate() error }

// decode reads body into v; unknown fields are ignored, as Hasura adds fields over versions.
func decode(body []byte, v validator) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return &decodeError{msg: describeDecodeError(err)}
	}
	// Only white space may follow the value: not a second value, nor a stray } or ].
	if _, err := dec.Token(); err != io.EOF {
		return &decodeError{msg: "malformed JSON: the body goes on after its JSON value"}
	}
	if err := v.validate(); err != nil {
		return &decodeError{msg: err.Error()}
	}
	return nil
}

func describeDecodeError(err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var field *fieldError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: the body is empty or cut short"
	case errors.As(err, &typeErr):
		want := jsonType(typeErr.Type.Kind().String())
		if typeErr.Type == timeType {
			want = "a timestamp"
		}
		return fmt.Sprintf("%s must be %s, not %s", fieldPath(typeErr.Field), want, typeErr.Value)
	case errors.As(err, &field):
		return field.Error()
	default:
		// Errors from a field's own UnmarshalJSON (a timestamp, a date, a uuid) say what is wrong.
		return "invalid value: " + err.Error()
	}
}

// fieldPath turns Go's "input.input.amount" into the name the client wrote: "input.amount".
func fieldPath(p string) string {
	if p == "" {
		return "the body"
	}
	return strings.TrimPrefix(p, "input.")
}

func jsonType(goKind string) string {
	switch goKind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "a list"
	default:
		return "an object"
	}
}

func writeJSON(w http.ResponseWriter, status int, b Body) {
	payload, _ := encodeJSON(b) // two strings always encode
	writeBody(w, status, payload)
}

func writeBody(w http.ResponseWriter, status int, payload []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(payload)
}

// encodeJSON encodes v as json.Encoder does (HTML-safe, with a trailing newline).
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NotImplemented serves a declared handler that is not built yet: after the secret check it
// answers 501 in Hasura's error shape (for triggers, a failure Hasura records and retries).
func (env *Envelope) NotImplemented(name string) http.Handler {
	secrets := env.secrets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !secretMatches(secretOf(r), secrets) {
			closeAfter(w)
			writeJSON(w, http.StatusUnauthorized, Body{Message: "missing or wrong " + SecretHeader, Extensions: Extensions{Code: "unauthorized"}})
			return
		}
		writeJSON(w, http.StatusNotImplemented, Body{Message: name + " is not implemented yet", Extensions: Extensions{Code: "not_implemented"}})
	})
}
