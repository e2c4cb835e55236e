package telemetry

// The OTLP/HTTP transport against real HTTP servers: what it reads from OTEL_EXPORTER_OTLP_*,
// what it sends, and when it retries. The binary's own test (functions/cmd/functions) decodes
// its requests as the collector's ExportTraceServiceRequest.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func noFiles(string) ([]byte, error) { return nil, os.ErrNotExist }

func TestTheEndpointIsABaseAndTheTracesEndpointIsUsedAsItIs(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http://collector:4318/v1/traces"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otlp.example/base/"}, "https://otlp.example/base/v1/traces"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom"}, "http://collector:4318/custom"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318"}, "http://collector:4318/"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/v1/traces"}, "http://b:4318/v1/traces"},
	} {
		c, err := exportConfigFromEnv(env(tt.env), noFiles)
		if err != nil || c.URL != tt.want {
			t.Errorf("%v: URL %q, %v; want %q", tt.env, c.URL, err, tt.want)
		}
		if c.Timeout != 10*time.Second || c.Gzip || c.TLS != nil {
			t.Errorf("%v: defaults %+v", tt.env, c)
		}
	}
}

func TestUnusableExporterSettingsFailTheStart(t *testing.T) {
	for _, e := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, // no scheme
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://collector:4317"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4318", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4318", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/tmp/cert.pem"}, // no key
	} {
		if _, err := exportConfigFromEnv(env(e), noFiles); err == nil {
			t.Errorf("%v: accepted", e)
		}
	}
	// The traces-specific protocol wins over the general one.
	if _, err := exportConfigFromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}), noFiles); err != nil {
		t.Errorf("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf: %v", err)
	}
}

// received is one request a test collector got.
type received struct {
	header http.Header
	body   []byte
}

// testCollector answers each request with the next of answers (the last one repeats).
func testCollector(t *testing.T, tlsServer bool, answers ...func(http.ResponseWriter)) (*httptest.Server, func() []received) {
	var mu sync.Mutex
	var got []received
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		n := len(got)
		got = append(got, received{r.Header.Clone(), body})
		mu.Unlock()
		answers[min(n, len(answers)-1)](w)
	})
	srv := httptest.NewUnstartedServer(h)
	if tlsServer {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, func() []received { mu.Lock(); defer mu.Unlock(); return append([]received(nil), got...) }
}

func ok(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) }

func status(code int, retryAfter string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, "collector says no", code)
	}
}

// export sends one span through the real exporter (otlptrace) and this client.
func export(t *testing.T, c *httpClient) error {
	t.Helper()
	exp, err := otlptrace.New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	var exportErr error
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { exportErr = errors.Join(exportErr, err) }))
	defer otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	_, span := tp.Tracer("test").Start(context.Background(), "earnPoints")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		exportErr = errors.Join(exportErr, err)
	}
	return exportErr
}

func spanNames(t *testing.T, body []byte) []string {
	t.Helper()
	var req tracepb.TracesData // ExportTraceServiceRequest on the wire
	if err := proto.Unmarshal(body, &req); err != nil {
		t.Fatalf("not an OTLP protobuf request: %v", err)
	}
	var names []string
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				names = append(names, s.Name)
			}
		}
	}
	return names
}

func TestSpansArePostedAsProtobufWithTheConfiguredHeadersAndGzip(t *testing.T) {
	srv, got := testCollector(t, false, ok)
	cfg, err := exportConfigFromEnv(env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":       srv.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":        "x-general=1",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=Basic%20dXNlcjpwYXNz, x-scope = traces ,broken",
		"OTEL_EXPORTER_OTLP_COMPRESSION":    "gzip",
	}), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := export(t, newHTTPClient(cfg)); err != nil {
		t.Fatalf("export: %v", err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	h := reqs[0].header
	if h.Get("Content-Type") != "application/x-protobuf" || h.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(h.Get("User-Agent"), "OTel OTLP Exporter Go/") {
		t.Errorf("headers %v", h)
	}
	// The traces' headers replace the general ones; values are percent-decoded.
	if h.Get("Authorization") != "Basic dXNlcjpwYXNz" || h.Get("X-Scope") != "traces" || h.Get("X-General") != "" {
		t.Errorf("configured headers not as set: %v", h)
	}
	zr, err := gzip.NewReader(bytes.NewReader(reqs[0].body))
	if err != nil {
		t.Fatalf("body is not gzip: %v", err)
	}
	raw, _ := io.ReadAll(zr)
	if names := spanNames(t, raw); len(names) != 1 || names[0] != "earnPoints" {
		t.Errorf("spans %v, want [earnPoints]", names)
	}
}

func TestRetryableAnswersAreRetriedAndOthersAreNot(t *testing.T) {
	srv, got := testCollector(t, false, status(http.StatusServiceUnavailable, ""), status(http.StatusTooManyRequests, "1"), ok)
	c := newHTTPClient(exportConfig{URL: srv.URL + "/v1/traces", Timeout: 10 * time.Second})
	c.retryBase = 10 * time.Millisecond
	start := time.Now()
	if err := export(t, c); err != nil {
		t.Fatalf("export after 503, 429: %v", err)
	}
	if n := len(got()); n != 3 {
		t.Errorf("%d requests, want 3 (503, 429, 200)", n)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("retried after %v, before the collector's Retry-After of 1 s", took)
	}
	for i, r := range got() {
		if names := spanNames(t, r.body); len(names) != 1 {
			t.Errorf("attempt %d carried %v", i, names)
		}
	}

	srv, got = testCollector(t, false, status(http.StatusBadRequest, ""))
	c = newHTTPClient(exportConfig{URL: srv.URL + "/v1/traces", Timeout: 10 * time.Second})
	c.retryBase = 10 * time.Millisecond
	if err := export(t, c); err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "collector says no") {
		t.Errorf("a 400 gave %v, want an error naming it and the collector's answer", err)
	}
	if n := len(got()); n != 1 {
		t.Errorf("a 400 was sent %d times, want once", n)
	}

	// A collector that keeps failing is given up at the export's timeout.
	srv, _ = testCollector(t, false, status(http.StatusBadGateway, ""))
	c = newHTTPClient(exportConfig{URL: srv.URL + "/v1/traces", Timeout: 200 * time.Millisecond})
	c.retryBase = 20 * time.Millisecond
	start = time.Now()
	if err := export(t, c); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("endless 502s gave %v, want the deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("gave up after %v, want about the 200 ms timeout", took)
	}
}

func TestACollectorsPartialSuccessIsReported(t *testing.T) {
	// ExportTraceServiceResponse{partial_success: {rejected_spans: 3, error_message: "too old"}}
	inner := protowire.AppendTag(nil, 1, protowire.VarintType)
	inner = protowire.AppendVarint(inner, 3)
	inner = protowire.AppendTag(inner, 2, protowire.BytesType)
	inner = protowire.AppendString(inner, "too old")
	answer := protowire.AppendTag(nil, 1, protowire.BytesType)
	answer = protowire.AppendBytes(answer, inner)
	srv, _ := testCollector(t, false, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(answer)
	})
	err := export(t, newHTTPClient(exportConfig{URL: srv.URL, Timeout: 5 * time.Second}))
	if err == nil || !strings.Contains(err.Error(), "rejected 3 spans: too old") {
		t.Errorf("partial success reported as %v", err)
	}
}

func TestTheCertificateSettingsAreUsedForHTTPS(t *testing.T) {
	srv, got := testCollector(t, true, ok)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	e := map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/v1/traces"}
	// Without the collector's CA the export fails; with it, it goes through.
	cfg, err := exportConfigFromEnv(env(e), os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	c := newHTTPClient(cfg)
	c.cfg.Timeout = time.Second
	if err := export(t, c); err == nil {
		t.Error("exported to a collector whose certificate nothing vouches for")
	}
	e["OTEL_EXPORTER_OTLP_CERTIFICATE"] = ca
	if cfg, err = exportConfigFromEnv(env(e), os.ReadFile); err != nil || cfg.TLS == nil || cfg.TLS.RootCAs == nil {
		t.Fatalf("OTEL_EXPORTER_OTLP_CERTIFICATE: %+v, %v", cfg.TLS, err)
	}
	if err := export(t, newHTTPClient(cfg)); err != nil {
		t.Fatalf("export over https with the CA: %v", err)
	}
	if len(got()) != 1 {
		t.Errorf("%d requests reached the collector, want 1", len(got()))
	}
	// A certificate with a plain http endpoint is a mistake, not a silent downgrade.
	e["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = strings.Replace(srv.URL, "https:", "http:", 1)
	if _, err := exportConfigFromEnv(env(e), os.ReadFile); err == nil {
		t.Error("a CA with an http:// endpoint was accepted")
	}
}
