package main

// The binary's telemetry, seen from outside as an operator's collector and Prometheus see it:
// an OTLP/HTTP receiver built on the OTLP protobuf types takes the spans the binary exports,
// and /metrics on METRICS_PORT is scraped and parsed with Prometheus's own text parser.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry/otlptest"
)

func attrs(s *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		m[kv.Key] = anyValue(kv.Value)
	}
	return m
}

func anyValue(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	default:
		return fmt.Sprint(v)
	}
}

// scrape parses GET /metrics with Prometheus's text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// value is the sample of family whose labels include want (a histogram gives its count).
func value(families map[string]*dto.MetricFamily, family string, want map[string]string) float64 {
	f := families[family]
	if f == nil {
		return 0
	}
	for _, m := range f.Metric {
		match := 0
		for _, l := range m.Label {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				match++
			}
		}
		if match != len(want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return 0
}

type earnFixture struct {
	store, crew, memberID, memberCode string
}

func newEarnFixture(t *testing.T, url string) earnFixture {
	db, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	fx := earnFixture{store: lt.Store(t, db)}
	fx.crew = lt.Staff(t, db, fx.store, loyalty.Crew)
	fx.memberID, fx.memberCode = lt.Member(t, db)
	return fx
}

func (fx earnFixture) post(t *testing.T, base, receipt string, header map[string]string) (int, []byte) {
	t.Helper()
	body := fmt.Sprintf(`{"action":{"name":"earnPoints"},"input":{"input":{"storeId":%q,"receiptNo":%q,"amount":120000,"memberCode":%q}},`+
		`"session_variables":{"x-hasura-role":"staff","x-hasura-user-id":%q},"request_query":"mutation { earnPoints }"}`,
		fx.store, receipt, fx.memberCode, fx.crew)
	return postJSON(t, base+"/earnPoints", body, header)
}

func postJSON(t *testing.T, url, body string, header map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hasura.SecretHeader, testSecret)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func startTraced(t *testing.T, url, otlp string) (p *process, metricsBase string) {
	ports := freePorts(t, 2)
	port, metricsPort := ports[0], ports[1]
	env := cleanEnv("DATABASE_URL="+url, "ACTION_SECRET="+testSecret, "PORT="+port, "METRICS_PORT="+metricsPort,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+otlp, "OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_SERVICE_NAME=loyalty-functions-test")
	p = start(t, env, port)
	p.waitHealthy(t, http.StatusOK)
	return p, "http://127.0.0.1:" + metricsPort
}

func TestEarnPointsIsOneTraceFromTheIncomingTraceparentIntoEverySQLStatement(t *testing.T) {
	url := pgtest.URL(t)
	fx := newEarnFixture(t, url)
	otlp := otlptest.New(t)
	p, _ := startTraced(t, url, otlp.URL)

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	status, raw := fx.post(t, p.base, "R-TRACE-1", map[string]string{"traceparent": "00-" + traceID + "-" + parentID + "-01"})
	if status != http.StatusOK {
		t.Fatalf("earnPoints: %d %s", status, raw)
	}
	spans := otlp.Trace(t, traceID, "earnPoints")

	var handler *tracepb.Span
	for _, s := range spans {
		if s.Name == "earnPoints" {
			handler = s
		}
	}
	if got := hex.EncodeToString(handler.ParentSpanId); got != parentID {
		t.Errorf("earnPoints span's parent = %s, want the traceparent's span %s", got, parentID)
	}
	if handler.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("earnPoints span kind = %v, want server", handler.Kind)
	}
	a := attrs(handler)
	for k, want := range map[string]string{"hasura.action.name": "earnPoints", "hasura.role": "staff", "hasura.error.code": "ok", "http.response.status_code": "200"} {
		if a[k] != want {
			t.Errorf("earnPoints span %s = %q, want %q (all: %v)", k, a[k], want, a)
		}
	}

	// Every statement is a span under the handler's, or under the span of the batch it was
	// sent in (its prepare, on the first use of a statement, under the statement's), and
	// names PostgreSQL and its SQL.
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[string(s.SpanId)] = s
	}
	isSQL := func(s *tracepb.Span) bool {
		sa := attrs(s)
		return sa["db.system.name"] == "postgresql" && sa["db.query.text"] != ""
	}
	sql := 0
	for _, s := range spans {
		if s == handler {
			continue
		}
		if !descends(s, handler, byID) {
			t.Errorf("span %q (parent %x) is not under the handler span %x", s.Name, s.ParentSpanId, handler.SpanId)
		}
		parent := byID[string(s.ParentSpanId)]
		inBatch := parent != nil && !isSQL(parent) && bytes.Equal(parent.ParentSpanId, handler.SpanId)
		if isSQL(s) && (bytes.Equal(s.ParentSpanId, handler.SpanId) || inBatch) {
			sql++
		}
	}
	if sql < 5 {
		t.Errorf("%d SQL statements under earnPoints (or its batches), want one span per statement (at least 5): %v", sql, names(spans))
	}
	// No member data anywhere: not the member's code or id, the receipt, or the caller.
	for _, s := range spans {
		for k, v := range attrs(s) {
			for _, pii := range []string{fx.memberCode, fx.memberID, fx.crew, "R-TRACE-1"} {
				if strings.Contains(v, pii) {
					t.Errorf("span %q attribute %s holds %q: %q", s.Name, k, pii, v)
				}
			}
		}
	}

	// The log lines of the request carry the trace and the handler span.
	spanID := hex.EncodeToString(handler.SpanId)
	if !logHas(p.output.String(), "handled", traceID, spanID) {
		t.Errorf("no \"handled\" log line with trace_id %s and span_id %s:\n%s", traceID, spanID, p.output)
	}
}

func TestB3AndAnEventsTraceContextAreHonoured(t *testing.T) {
	url := pgtest.URL(t)
	fx := newEarnFixture(t, url)
	otlp := otlptest.New(t)
	p, _ := startTraced(t, url, otlp.URL)

	// B3 single header, as Knative's queue-proxy may send it.
	const b3Trace, b3Span = "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1"
	if status, raw := fx.post(t, p.base, "R-B3-1", map[string]string{"b3": b3Trace + "-" + b3Span + "-1"}); status != http.StatusOK {
		t.Fatalf("earnPoints: %d %s", status, raw)
	}
	for _, s := range otlp.Trace(t, b3Trace, "earnPoints") {
		if s.Name == "earnPoints" && hex.EncodeToString(s.ParentSpanId) != b3Span {
			t.Errorf("B3: earnPoints span's parent = %x, want %s", s.ParentSpanId, b3Span)
		}
	}

	// An event whose row change was traced: Hasura's short (64-bit) ids, left-padded.
	const rowTrace, rowSpan = "0af7651916cd43dd", "b7ad6b7169203331"
	eventID := "c6a1e7f4-1b2d-4c3e-8f9a-0123456789ab"
	body := fmt.Sprintf(`{"id":%q,"created_at":"2026-01-02T03:04:05.123456Z","trigger":{"name":"member_welcome"},"table":{"schema":"public","name":"members"},`+
		`"delivery_info":{"max_retries":3,"current_retry":0},"event":{"op":"INSERT","data":{"old":null,"new":{"id":%q}},"session_variables":null,`+
		`"trace_context":{"trace_id":%q,"span_id":%q}}}`, eventID, fx.memberID, rowTrace, rowSpan)
	postJSON(t, p.base+"/member_welcome", body, map[string]string{"traceparent": "00-11111111111111111111111111111111-2222222222222222-01"})
	padded := "00000000000000000af7651916cd43dd"
	for _, s := range otlp.Trace(t, padded, "member_welcome") {
		if s.Name != "member_welcome" {
			continue
		}
		if hex.EncodeToString(s.ParentSpanId) != rowSpan {
			t.Errorf("member_welcome span's parent = %x, want the event's span %s", s.ParentSpanId, rowSpan)
		}
		if len(s.Links) != 1 || hex.EncodeToString(s.Links[0].TraceId) != "11111111111111111111111111111111" {
			t.Errorf("member_welcome span links = %v, want the delivery's traceparent", s.Links)
		}
		a := attrs(s)
		if a["hasura.trigger.name"] != "member_welcome" || a["hasura.event.id"] != eventID || a["hasura.event.op"] != "INSERT" {
			t.Errorf("member_welcome span attributes = %v", a)
		}
	}
}

func TestMetricsMoveByExactlyOneRequestOnTheirOwnPort(t *testing.T) {
	url := pgtest.URL(t)
	fx := newEarnFixture(t, url)
	ports := freePorts(t, 2)
	port, metricsPort := ports[0], ports[1]
	p := start(t, cleanEnv("DATABASE_URL="+url, "ACTION_SECRET="+testSecret, "PORT="+port, "METRICS_PORT="+metricsPort), port)
	p.waitHealthy(t, http.StatusOK)
	metrics := "http://127.0.0.1:" + metricsPort

	// Not on the serving port: the Ingress and Hasura reach that one.
	if resp, err := client.Get(p.base + "/metrics"); err != nil || resp.StatusCode == http.StatusOK {
		t.Fatalf("GET /metrics on the serving port: %v %v, want no metrics there", resp, err)
	}

	ok := map[string]string{"handler": "earnPoints", "status": "200", "code": "ok"}
	refused := map[string]string{"handler": "earnPoints", "status": "401", "code": "unauthorized"}
	latency := map[string]string{"handler": "earnPoints"}
	before := scrape(t, metrics)
	status, raw := fx.post(t, p.base, "R-METRICS-1", nil)
	if status != http.StatusOK {
		t.Fatalf("earnPoints: %d %s", status, raw)
	}
	after := scrape(t, metrics)
	var earned struct {
		PointsEarned float64 `json:"pointsEarned"`
	}
	if err := json.Unmarshal(raw, &earned); err != nil || earned.PointsEarned <= 0 {
		t.Fatalf("earnPoints answered %s", raw)
	}
	// Business counters: the points of the committed earn, and nothing for its repeat.
	earn := map[string]string{"kind": "earn"}
	if d := value(after, "loyalty_points_total", earn) - value(before, "loyalty_points_total", earn); d != earned.PointsEarned {
		t.Errorf("loyalty_points_total%v moved by %v, want the %v points earned", earn, d, earned.PointsEarned)
	}
	if status, raw := fx.post(t, p.base, "R-METRICS-1", nil); status != http.StatusOK {
		t.Fatalf("repeat earnPoints: %d %s", status, raw)
	}
	if d := value(scrape(t, metrics), "loyalty_points_total", earn) - value(after, "loyalty_points_total", earn); d != 0 {
		t.Errorf("a duplicate earn moved loyalty_points_total by %v, want 0", d)
	}

	for _, c := range []struct {
		family string
		labels map[string]string
		delta  float64
	}{
		{"loyalty_requests_total", ok, 1},
		{"loyalty_requests_total", refused, 0},
		{"loyalty_request_duration_seconds", latency, 1},
		{"loyalty_requests_in_flight", latency, 0},
	} {
		if d := value(after, c.family, c.labels) - value(before, c.family, c.labels); d != c.delta {
			t.Errorf("%s%v moved by %v, want %v", c.family, c.labels, d, c.delta)
		}
	}
	if value(after, "loyalty_db_pool_max_connections", nil) < 1 || value(after, "loyalty_db_pool_acquires_total", nil) <= value(before, "loyalty_db_pool_acquires_total", nil) {
		t.Errorf("pool statistics did not move: acquires %v -> %v", value(before, "loyalty_db_pool_acquires_total", nil), value(after, "loyalty_db_pool_acquires_total", nil))
	}

	// A refusal counts under its code.
	req, _ := http.NewRequest(http.MethodPost, p.base+"/earnPoints", strings.NewReader("{}"))
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
	if d := value(scrape(t, metrics), "loyalty_requests_total", refused) - value(after, "loyalty_requests_total", refused); d != 1 {
		t.Errorf("a request without the secret moved %v by %v, want 1", refused, d)
	}

	// A delivery that cannot be served is recorded in trigger_failures, and counted.
	failed := map[string]string{"trigger": "order_paid"}
	beforeFailure := scrape(t, metrics)
	if status, raw := postJSON(t, p.base+"/order_paid", `{"id":"5d6c8a3e-0000-4000-8000-00000000f001","trigger":{"name":"order_paid"},"event":{"op":"INSERT"}}`, nil); status != http.StatusBadRequest {
		t.Fatalf("a broken delivery: %d %s, want 400", status, raw)
	}
	if d := value(scrape(t, metrics), "loyalty_trigger_failures_recorded_total", failed) - value(beforeFailure, "loyalty_trigger_failures_recorded_total", failed); d != 1 {
		t.Errorf("loyalty_trigger_failures_recorded_total%v moved by %v, want 1", failed, d)
	}
}

// descends tells whether s is under root, following parents through byID.
func descends(s, root *tracepb.Span, byID map[string]*tracepb.Span) bool {
	for range len(byID) {
		if bytes.Equal(s.ParentSpanId, root.SpanId) {
			return true
		}
		if s = byID[string(s.ParentSpanId)]; s == nil {
			return false
		}
	}
	return false
}

func names(spans []*tracepb.Span) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name)
	}
	return n
}

// logHas tells whether a JSON log line with msg carries traceID and spanID.
func logHas(output, msg, traceID, spanID string) bool {
	for _, line := range strings.Split(output, "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == msg && l["trace_id"] == traceID && l["span_id"] == spanID {
			return true
		}
	}
	return false
}
