// Package otlptest is an in-process OTLP/HTTP trace receiver for tests: POST /v1/traces with
// a protobuf ExportTraceServiceRequest, as the OpenTelemetry Collector (or ADOT) takes it. It
// keeps the spans it is sent, for a test to look at what a process exported.
package otlptest

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Collector is a running receiver; URL is where to point OTEL_EXPORTER_OTLP_ENDPOINT.
type Collector struct {
	URL   string
	mu    sync.Mutex
	spans []*tracepb.Span
}

// New starts a receiver that stops when the test ends. A request that is not an OTLP/HTTP
// protobuf trace export is answered 400 and kept out.
func New(t testing.TB) *Collector {
	c := &Collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Received returns the spans received so far and forgets them.
func (c *Collector) Received() []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.spans
	c.spans = nil
	return s
}

// Trace waits up to 15 s until a span named name of traceID (hex) arrived, and returns every
// span of that trace received so far.
func (c *Collector) Trace(t testing.TB, traceID, name string) []*tracepb.Span {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c.mu.Lock()
		var of []*tracepb.Span
		found := false
		for _, s := range c.spans {
			if hex.EncodeToString(s.TraceId) == traceID {
				of = append(of, s)
				found = found || s.Name == name
			}
		}
		c.mu.Unlock()
		if found {
			return of
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span %q of trace %s reached the collector within 15s", name, traceID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
