package telemetry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry"
)

// serve runs one request through a wrapped handler and returns the span it ended.
func serve(t *testing.T, c telemetry.Handler, h http.Handler, req *http.Request) (sdktrace.ReadOnlySpan, *httptest.ResponseRecorder) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	c.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	c.Propagator = telemetry.Propagator()
	rec := httptest.NewRecorder()
	c.Wrap(h).ServeHTTP(rec, req)
	spans := exp.GetSpans().Snapshots()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	return spans[0], rec
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(w, r.Body) })

func TestB3MultiHeadersAreTheParent(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/earnPoints", strings.NewReader("{}"))
	req.Header.Set("X-B3-TraceId", "463ac35c9f6413ad48485a3953bb6124")
	req.Header.Set("X-B3-SpanId", "a2fb4a1d1a96d312")
	req.Header.Set("X-B3-Sampled", "1")
	s, _ := serve(t, telemetry.Handler{Name: "earnPoints"}, echo, req)
	if s.Name() != "earnPoints" || s.Parent().TraceID().String() != "463ac35c9f6413ad48485a3953bb6124" || s.Parent().SpanID().String() != "a2fb4a1d1a96d312" {
		t.Fatalf("span %q parent %v", s.Name(), s.Parent())
	}
}

func TestAnEventsTraceContextIsTheParentAndTheBodyStillReachesTheHandler(t *testing.T) {
	body := `{"id":"e1","event":{"op":"INSERT","trace_context":{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}}}`
	req := httptest.NewRequest(http.MethodPost, "/order_paid", strings.NewReader(body))
	s, rec := serve(t, telemetry.Handler{Name: "order_paid", Event: true}, echo, req)
	if s.Parent().SpanID().String() != "b7ad6b7169203331" || !s.Parent().IsRemote() {
		t.Errorf("parent = %v, want the event's span", s.Parent())
	}
	if rec.Body.String() != body {
		t.Errorf("the handler read %q, want the whole body", rec.Body)
	}
}

func TestAnUnadmittedCallersBodyIsNotReadForItsTrace(t *testing.T) {
	body := `{"event":{"trace_context":{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}}}`
	req := httptest.NewRequest(http.MethodPost, "/order_paid", strings.NewReader(body))
	s, _ := serve(t, telemetry.Handler{Name: "order_paid", Event: true, Admit: func(*http.Request) bool { return false }}, echo, req)
	if s.Parent().IsValid() {
		t.Errorf("parent = %v, want none for a caller the envelope refuses", s.Parent())
	}
}

func TestTheAnswersErrorCodeIsOnTheSpanAnd5xxIsAnError(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		code   string
		isErr  bool
	}{
		{200, `{"transactionId":"x"}`, "ok", false},
		{400, `{"message":"no such member","extensions":{"code":"member_not_found"}}`, "member_not_found", false},
		{503, `{"message":"try again","extensions":{"code":"unavailable"}}`, "unavailable", true},
		{502, `not json`, "502", true},
	} {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = io.WriteString(w, tt.body)
		})
		s, _ := serve(t, telemetry.Handler{Name: "earnPoints"}, h, httptest.NewRequest(http.MethodPost, "/earnPoints", nil))
		if got := attr(s, "hasura.error.code"); got != tt.code {
			t.Errorf("%d: hasura.error.code = %q, want %q", tt.status, got, tt.code)
		}
		if isErr := s.Status().Code.String() == "Error"; isErr != tt.isErr {
			t.Errorf("%d: span status %v", tt.status, s.Status())
		}
	}
}

func TestMetricsPortMustBeAPortOtherThanTheServingOne(t *testing.T) {
	for _, tt := range []struct {
		value string
		ok    bool
	}{{"9090", true}, {"0", true}, {"8080", false}, {"x", false}, {"70000", false}} {
		t.Setenv("METRICS_PORT", tt.value)
		if _, err := telemetry.LoadConfig("8080"); (err == nil) != tt.ok {
			t.Errorf("METRICS_PORT=%s: err = %v", tt.value, err)
		}
	}
}

func TestTracingIsEnabledOnlyByAnOTLPEndpoint(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, false},
	} {
		if got := telemetry.TracingEnabled(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("%v: enabled = %v, want %v", tt.env, got, tt.want)
		}
	}
}
