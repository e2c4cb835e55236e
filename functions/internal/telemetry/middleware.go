package telemetry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of the handler spans. The envelope adds the request's ids under these
// names (hasura.Annotate); no member data is ever put in a span.
const (
	AttrErrorCode = attribute.Key("hasura.error.code")
)

const instrumentation = "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry"

// Handler wraps the handler of one Hasura action or trigger: it starts the server span named
// after it, parented on the propagated trace context (for event triggers, on the body's
// event.trace_context), and counts the request by its outcome.
type Handler struct {
	Name string
	// Event marks an event trigger, whose body may carry the trace of the row change.
	Event bool
	// MaxBody bounds how much of an event trigger's body is read for its trace context;
	// the envelope refuses anything larger anyway.
	MaxBody int64
	// Admit, when set, must accept the request before its body is read for the trace
	// context (the envelope's secret check): an unknown caller's body is never read here.
	Admit   func(*http.Request) bool
	Metrics *Metrics // nil: no metrics
	// TracerProvider and Propagator default to the global ones.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

// Wrap returns h served inside the span and the metrics.
func (c Handler) Wrap(h http.Handler) http.Handler {
	tp, prop := c.TracerProvider, c.Propagator
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	tracer := tp.Tracer(instrumentation)
	maxBody := c.MaxBody
	if maxBody <= 0 {
		maxBody = 256 << 10
	}
	var inFlight interface {
		Inc()
		Dec()
	}
	if c.Metrics != nil {
		inFlight = c.Metrics.inFlight.WithLabelValues(c.Name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if inFlight != nil {
			inFlight.Inc()
			defer inFlight.Dec()
		}
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path))}
		if c.Event && (c.Admit == nil || c.Admit(r)) {
			if rowTrace, ok := peekEventTrace(r, maxBody); ok {
				// The row change's trace is the parent, so the POS write and the points it
				// earned are one trace; the delivery's own trace, if any, is linked.
				if from := trace.SpanContextFromContext(ctx); from.IsValid() && from.TraceID() != rowTrace.TraceID() {
					opts = append(opts, trace.WithLinks(trace.Link{SpanContext: from}))
				}
				ctx = trace.ContextWithRemoteSpanContext(ctx, rowTrace)
			}
		}
		ctx, span := tracer.Start(ctx, c.Name, opts...)
		defer span.End()

		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r.WithContext(ctx))

		status := rec.statusCode()
		code := rec.outcome()
		span.SetAttributes(semconv.HTTPResponseStatusCode(status), AttrErrorCode.String(code))
		if status >= 500 {
			span.SetStatus(codes.Error, code)
		}
		if c.Metrics != nil {
			c.Metrics.observe(c.Name, status, code, time.Since(start))
		}
	})
}

// peekEventTrace reads event.trace_context from an event trigger's body and puts the body
// back for the handler. Hasura writes hex ids, sometimes shorter than W3C's (64-bit B3 trace
// ids), which are left-padded as B3 prescribes.
func peekEventTrace(r *http.Request, maxBody int64) (trace.SpanContext, bool) {
	if r.Body == nil || r.Method != http.MethodPost {
		return trace.SpanContext{}, false
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(head), r.Body), Closer: r.Body}
	if err != nil || int64(len(head)) > maxBody {
		return trace.SpanContext{}, false
	}
	var probe struct {
		Event struct {
			TraceContext *struct {
				TraceID string `json:"trace_id"`
				SpanID  string `json:"span_id"`
			} `json:"trace_context"`
		} `json:"event"`
	}
	if json.Unmarshal(head, &probe) != nil || probe.Event.TraceContext == nil {
		return trace.SpanContext{}, false
	}
	tid, err1 := trace.TraceIDFromHex(leftPad(probe.Event.TraceContext.TraceID, 32))
	sid, err2 := trace.SpanIDFromHex(leftPad(probe.Event.TraceContext.SpanID, 16))
	if err1 != nil || err2 != nil {
		return trace.SpanContext{}, false
	}
	// The body carries no sampling decision: the row change was traced, so this is too.
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	return sc, sc.IsValid()
}

func leftPad(hex string, n int) string {
	if len(hex) >= n || hex == "" {
		return hex
	}
	return strings.Repeat("0", n-len(hex)) + hex
}

type readCloser struct {
	io.Reader
	io.Closer
}

// recorder keeps the status and, for error answers, the start of the body: Hasura's error
// shape {"message", "extensions": {"code"}} names the outcome.
type recorder struct {
	http.ResponseWriter
	status int
	body   []byte
}

const maxErrorBody = 4 << 10

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.status >= 400 && len(r.body) < maxErrorBody {
		r.body = append(r.body, p[:min(len(p), maxErrorBody-len(r.body))]...)
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// outcome is "ok" for a 2xx, else the answer's extensions.code, else the status.
func (r *recorder) outcome() string {
	status := r.statusCode()
	if status < 400 {
		return "ok"
	}
	var b struct {
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	}
	if json.Unmarshal(r.body, &b) == nil && b.Extensions.Code != "" && len(b.Extensions.Code) <= 64 {
		return b.Extensions.Code
	}
	return strconv.Itoa(status)
}
