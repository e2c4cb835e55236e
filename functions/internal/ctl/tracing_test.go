package ctl_test

// Tracing of a run: a root span named after the subcommand, a client span per S3 call under
// it (recorded in memory through the factory's tracer provider), and, with an OTLP endpoint
// in the OTEL_* variables, every span at the collector by the time Main returns.

import (
	"encoding/hex"
	"image/color"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry/otlptest"
)

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes() {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}

// runSpans splits the spans of one run into its root span, which must be the only one
// without a parent and named name, and the others, which must all be its children.
func runSpans(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) (sdktrace.ReadOnlySpan, []sdktrace.ReadOnlySpan) {
	t.Helper()
	var root sdktrace.ReadOnlySpan
	var children []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Parent().IsValid() {
			children = append(children, s)
			continue
		}
		if root != nil {
			t.Fatalf("two root spans: %q and %q", root.Name(), s.Name())
		}
		root = s
	}
	if root == nil || root.Name() != name || root.SpanKind() != trace.SpanKindInternal {
		t.Fatalf("no root span %q among %d spans", name, len(spans))
	}
	for _, c := range children {
		if c.Parent().SpanID() != root.SpanContext().SpanID() || c.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("span %q is not a child of %q", c.Name(), name)
		}
	}
	return root, children
}

// wantS3Calls checks that calls are one client span per S3 operation, in order, with the
// attributes awstrace gives them and the HTTP status S3 answered.
func wantS3Calls(t *testing.T, calls []sdktrace.ReadOnlySpan, want ...[2]string) {
	t.Helper()
	if len(calls) != len(want) {
		var names []string
		for _, c := range calls {
			names = append(names, c.Name())
		}
		t.Fatalf("S3 spans %q, want %d: %v", names, len(want), want)
	}
	for i, c := range calls {
		op, status := want[i][0], want[i][1]
		if c.Name() != "S3."+op || c.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %d: %q kind %v, want S3.%s, client", i, c.Name(), c.SpanKind(), op)
		}
		wantAttrs := map[string]string{"rpc.system.name": "aws-api", "rpc.method": "S3/" + op,
			"aws.region": "ap-northeast-1", "http.response.status_code": status}
		for k, v := range wantAttrs {
			if got := spanAttrs(c)[k]; got != v {
				t.Errorf("%s: %s = %q, want %q (all: %v)", c.Name(), k, got, v, spanAttrs(c))
			}
		}
	}
}

func TestAnImageUploadIsTheCommandsSpanWithAClientSpanPerS3Call(t *testing.T) {
	w := newWorld(t)
	w.fakeS3("kk-images")
	reward := lt.Reward(t, w.db, lt.RewardSpec{})
	dir := t.TempDir()
	write(t, filepath.Join(dir, reward+".png"), pngOf(t, color.RGBA{R: 200, A: 255}))
	rec := tracetest.NewSpanRecorder()
	w.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))

	// New: S3 does not hold it (404), so it is put.
	w.want(w.run("images", "upload", dir, "--kind", "rewards"), 0, "1 files: 1 uploaded, 0 unchanged")
	root, calls := runSpans(t, rec.Ended(), "loyaltyctl images upload")
	if a := spanAttrs(root); a["process.exit.code"] != "0" || root.Status().Code != codes.Unset {
		t.Errorf("root span: status %v, attributes %v", root.Status(), a)
	}
	wantS3Calls(t, calls, [2]string{"HeadObject", "404"}, [2]string{"PutObject", "200"})
	first := root.SpanContext().TraceID()

	// Unchanged: only looked at, in a trace of its own.
	rec.Reset()
	w.want(w.run("images", "upload", dir, "--kind", "rewards"), 0, "0 uploaded, 1 unchanged")
	root, calls = runSpans(t, rec.Ended(), "loyaltyctl images upload")
	wantS3Calls(t, calls, [2]string{"HeadObject", "200"})
	if root.SpanContext().TraceID() == first {
		t.Error("two runs share a trace")
	}

	// Failures end the span as an error with the error's code, and print what they did untraced.
	write(t, filepath.Join(dir, "cake.png"), pngOf(t, color.RGBA{B: 1, A: 255}))
	for _, tc := range []struct {
		args       []string
		code       int
		errorType  string
		exitAttr   string
		printedHas string
	}{
		{[]string{"images", "upload", dir, "--kind", "rewards"}, 1, "invalid_images", "1", "cake.png"},
		{[]string{"images", "upload", dir}, 2, "usage", "2", "--kind must be rewards or stores"},
	} {
		w.tp = nil
		untraced := w.run(tc.args...)
		w.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		rec.Reset()
		traced := w.run(tc.args...)
		w.want(traced, tc.code, tc.printedHas)
		if traced != untraced {
			t.Errorf("%v traced printed\n%+v\nuntraced\n%+v", tc.args, traced, untraced)
		}
		root, calls := runSpans(t, rec.Ended(), "loyaltyctl images upload")
		if a := spanAttrs(root); root.Status().Code != codes.Error || a["error.type"] != tc.errorType || a["process.exit.code"] != tc.exitAttr {
			t.Errorf("%v: root span status %v, attributes %v, want error %s", tc.args, root.Status(), a, tc.errorType)
		}
		wantS3Calls(t, calls) // every file is checked before S3 is asked anything
	}
}

func TestWithAnOTLPEndpointEveryRunsSpansAreExportedBeforeMainReturns(t *testing.T) {
	// Main installs the global tracer provider and propagator, as the process needs; put
	// back the test binary's.
	tp, prop, eh := otel.GetTracerProvider(), otel.GetTextMapPropagator(), otel.GetErrorHandler()
	t.Cleanup(func() { otel.SetTracerProvider(tp); otel.SetTextMapPropagator(prop); otel.SetErrorHandler(eh) })
	w := newWorld(t)
	w.fakeS3("kk-images")
	reward := lt.Reward(t, w.db, lt.RewardSpec{})
	dir := t.TempDir()
	write(t, filepath.Join(dir, reward+".png"), pngOf(t, color.RGBA{G: 200, A: 255}))
	c := otlptest.New(t)

	// No OTEL_* variable: no tracer provider is installed.
	w.want(w.run("check", "invariants"), 0)
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
		t.Fatal("a tracer provider was installed without OTEL_EXPORTER_OTLP_ENDPOINT")
	}

	w.vars["OTEL_EXPORTER_OTLP_ENDPOINT"] = c.URL
	a := w.run("images", "upload", dir, "--kind", "rewards")
	w.want(a, 0, "1 uploaded")
	if a.errOut != "" {
		t.Errorf("stderr with tracing: %q", a.errOut)
	}
	// No waiting: Main flushed them.
	spans := c.Received()
	byName := map[string]*tracepb.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	root, head, put := byName["loyaltyctl images upload"], byName["S3.HeadObject"], byName["S3.PutObject"]
	if len(spans) != 3 || root == nil || head == nil || put == nil {
		t.Fatalf("collector got %d spans %v, want the run's and HeadObject's and PutObject's", len(spans), byName)
	}
	for _, s := range []*tracepb.Span{head, put} {
		if hex.EncodeToString(s.ParentSpanId) != hex.EncodeToString(root.SpanId) || s.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("%s: parent %x kind %v, want a client span under the run's %x", s.Name, s.ParentSpanId, s.Kind, root.SpanId)
		}
	}

	// A failed run is exported too.
	delete(w.vars, "S3_BUCKET")
	w.want(w.run("images", "upload", dir, "--kind", "rewards"), 1, "[config]", "S3_BUCKET")
	spans = c.Received()
	if len(spans) != 1 || spans[0].Name != "loyaltyctl images upload" || spans[0].Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Fatalf("after a failed run the collector got %v, want its span as an error", spans)
	}

	// An exporter setting it cannot use fails the run before it starts, naming it.
	w.vars["OTEL_EXPORTER_OTLP_TIMEOUT"] = "10s"
	w.want(w.run("check", "invariants"), 1, "[config]", "OTEL_EXPORTER_OTLP_TIMEOUT")
}
