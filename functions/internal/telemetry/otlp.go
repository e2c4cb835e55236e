package telemetry

// The OTLP/HTTP transport of the trace exporter. The exporter itself (batches of the SDK's
// spans turned into OTLP protobuf messages) is go.opentelemetry.io/otel/exporters/otlp/otlptrace;
// only the HTTP POST is here, because the OpenTelemetry module that does it, otlptracehttp,
// imports gRPC (its shared option code, and the collector's service package for the request
// type): gRPC's golang.org/x/net/trace runs html/template, whose reflective method calls keep
// every method of every type in the binary, which doubled it (24 to 46 MB) and slowed every
// start by ~5 ms with no exporter in use. What otlptracehttp reads from OTEL_EXPORTER_OTLP_*
// for http/protobuf is read here the same way (spec:
// https://opentelemetry.io/docs/specs/otel/protocol/exporter/).

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// exportConfig is where and how spans are sent.
type exportConfig struct {
	URL     string // the full URL POSTed to
	Headers map[string]string
	Timeout time.Duration // one export, its retries included
	Gzip    bool
	TLS     *tls.Config // nil: the system's roots, no client certificate
}

const (
	defaultExportTimeout = 10 * time.Second
	tracesPath           = "/v1/traces"
)

// exportConfigFromEnv reads the OTEL_EXPORTER_OTLP_* variables: each TRACES_ one wins over
// the general one. A value that cannot be used fails the start rather than losing the traces
// silently.
func exportConfigFromEnv(getenv func(string) string, readFile func(string) ([]byte, error)) (exportConfig, error) {
	const ns = "OTEL_EXPORTER_OTLP_"
	pick := func(name string) (string, string) {
		if v := strings.TrimSpace(getenv(ns + "TRACES_" + name)); v != "" {
			return ns + "TRACES_" + name, v
		}
		return ns + name, strings.TrimSpace(getenv(ns + name))
	}
	c := exportConfig{Timeout: defaultExportTimeout}

	if name, p := pick("PROTOCOL"); p != "" && p != "http/protobuf" {
		return c, fmt.Errorf("%s=%s: only http/protobuf is built in (the collector's port 4318)", name, p)
	}

	// The traces endpoint is used as it is; the general one is a base the path is added to.
	var raw, name string
	if v := strings.TrimSpace(getenv(ns + "TRACES_ENDPOINT")); v != "" {
		name, raw = ns+"TRACES_ENDPOINT", v
	} else {
		name, raw = ns+"ENDPOINT", strings.TrimSpace(getenv(ns+"ENDPOINT"))
		if raw == "" {
			raw = "http://localhost:4318"
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("%s=%q: want an http:// or https:// URL", name, raw)
	}
	if name == ns+"ENDPOINT" {
		u.Path = strings.TrimSuffix(u.Path, "/") + tracesPath
	} else if u.Path == "" {
		u.Path = "/"
	}
	c.URL = u.String()

	if _, h := pick("HEADERS"); h != "" {
		c.Headers = parseHeaders(h)
	}
	if name, v := pick("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return c, fmt.Errorf("%s=%q: want milliseconds", name, v)
		}
		c.Timeout = time.Duration(ms) * time.Millisecond
	}
	switch name, v := pick("COMPRESSION"); v {
	case "", "none":
	case "gzip":
		c.Gzip = true
	default:
		return c, fmt.Errorf("%s=%q: want gzip or none", name, v)
	}

	var tlsc tls.Config
	if name, file := pick("CERTIFICATE"); file != "" {
		pem, err := readFile(file)
		if err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
		tlsc.RootCAs = x509.NewCertPool()
		if !tlsc.RootCAs.AppendCertsFromPEM(pem) {
			return c, fmt.Errorf("%s=%s: no PEM certificate in it", name, file)
		}
	}
	certName, certFile := pick("CLIENT_CERTIFICATE")
	keyName, keyFile := pick("CLIENT_KEY")
	if (certFile == "") != (keyFile == "") {
		return c, fmt.Errorf("%s and %s go together", certName, keyName)
	}
	if certFile != "" {
		certPEM, err1 := readFile(certFile)
		keyPEM, err2 := readFile(keyFile)
		if err := errors.Join(err1, err2); err != nil {
			return c, fmt.Errorf("%s, %s: %w", certName, keyName, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return c, fmt.Errorf("%s, %s: %w", certName, keyName, err)
		}
		tlsc.Certificates = []tls.Certificate{cert}
	}
	if tlsc.RootCAs != nil || tlsc.Certificates != nil {
		if u.Scheme != "https" {
			return c, fmt.Errorf("%s: a certificate is set but the endpoint %s is not https", name, c.URL)
		}
		c.TLS = &tlsc
	}
	return c, nil
}

// parseHeaders reads "k1=v1,k2=v2" with percent-encoded values, as the spec writes them; a
// malformed pair is left out.
func parseHeaders(s string) map[string]string {
	h := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\r\n:") {
			continue
		}
		if dec, err := url.PathUnescape(v); err == nil {
			h[k] = strings.TrimSpace(dec)
		}
	}
	return h
}

// httpClient is an otlptrace.Client that POSTs ExportTraceServiceRequests in protobuf.
type httpClient struct {
	cfg       exportConfig
	client    *http.Client
	userAgent string
	// retryBase is the first pause before a retry (doubling up to 30 s) when the collector
	// names none (Retry-After).
	retryBase time.Duration

	stopOnce sync.Once
	stop     chan struct{}
}

var _ otlptrace.Client = (*httpClient)(nil)

func newHTTPClient(cfg exportConfig) *httpClient {
	// A transport of its own (net/http's defaults), so the exporter shares no connection
	// pool or setting with anything else in the process.
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       cfg.TLS,
	}
	return &httpClient{cfg: cfg, client: &http.Client{Transport: tr}, userAgent: "OTel OTLP Exporter Go/" + otlptrace.Version(),
		retryBase: time.Second, stop: make(chan struct{})}
}

// Start has nothing to do: connections are made at the first export.
func (c *httpClient) Start(ctx context.Context) error { return ctx.Err() }

// Stop ends exports in flight; the exporter calls it once, after its last upload.
func (c *httpClient) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() { close(c.stop) })
	c.client.CloseIdleConnections()
	return ctx.Err()
}

const (
	maxRetryPause  = 30 * time.Second
	maxResponseLen = 64 << 10
)

// UploadTraces sends one batch, retrying what the spec calls retryable (429, 502, 503, 504
// and failed connections) until the export's timeout.
func (c *httpClient) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	// TracesData is ExportTraceServiceRequest on the wire: field 1, repeated ResourceSpans.
	body, err := proto.Marshal(&tracepb.TracesData{ResourceSpans: spans})
	if err != nil {
		return fmt.Errorf("otlp: marshal spans: %w", err)
	}
	if c.cfg.Gzip {
		var b bytes.Buffer
		gz := gzip.NewWriter(&b)
		if _, err := gz.Write(body); err != nil {
			return err
		}
		if err := gz.Close(); err != nil {
			return err
		}
		body = b.Bytes()
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for attempt := 0; ; attempt++ {
		pause, err := c.post(ctx, body)
		if err == nil || pause < 0 {
			return err
		}
		if pause == 0 {
			pause = min(c.retryBase<<attempt, maxRetryPause)
			pause = pause/2 + rand.N(pause/2+1) // jitter, so restarted pods do not retry in step
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (then %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// post makes one attempt. A negative pause means do not retry; zero, retry after a backoff;
// more, retry after that long (the collector's Retry-After).
func (c *httpClient) post(ctx context.Context, body []byte) (pause time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return -1, err
	}
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", c.userAgent)
	if c.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("otlp: POST %s: %w", c.cfg.URL, err)
		}
		return 0, fmt.Errorf("otlp: POST %s: %w", c.cfg.URL, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseLen))
	if resp.StatusCode/100 == 2 {
		if resp.Header.Get("Content-Type") == "application/x-protobuf" {
			if rejected, msg := partialSuccess(answer); rejected != 0 || msg != "" {
				// The batch is taken; what the collector refused of it is not retried.
				otel.Handle(fmt.Errorf("otlp: the collector rejected %d spans: %s", rejected, msg))
			}
		}
		return 0, nil
	}
	err = fmt.Errorf("otlp: POST %s: %s: %s", c.cfg.URL, resp.Status, strings.TrimSpace(string(answer)))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return retryAfter(resp.Header.Get("Retry-After")), err
	}
	return -1, err
}

// retryAfter reads Retry-After in seconds or as a date; 0 if it says nothing usable.
func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, maxRetryPause)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), maxRetryPause)
	}
	return 0
}

// partialSuccess reads ExportTraceServiceResponse.partial_success (field 1) and its
// rejected_spans (1) and error_message (2).
func partialSuccess(b []byte) (rejected int64, msg string) {
	walk := func(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, n uint64)) {
		for len(b) > 0 {
			num, typ, l := protowire.ConsumeTag(b)
			if l < 0 {
				return
			}
			b = b[l:]
			switch typ {
			case protowire.BytesType:
				v, l := protowire.ConsumeBytes(b)
				if l < 0 {
					return
				}
				f(num, typ, v, 0)
				b = b[l:]
			case protowire.VarintType:
				v, l := protowire.ConsumeVarint(b)
				if l < 0 {
					return
				}
				f(num, typ, nil, v)
				b = b[l:]
			default:
				l := protowire.ConsumeFieldValue(num, typ, b)
				if l < 0 {
					return
				}
				b = b[l:]
			}
		}
	}
	walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		if num != 1 || typ != protowire.BytesType {
			return
		}
		walk(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) {
			switch {
			case num == 1 && typ == protowire.VarintType:
				rejected = int64(n)
			case num == 2 && typ == protowire.BytesType:
				msg = string(v)
			}
		})
	})
	return rejected, msg
}
