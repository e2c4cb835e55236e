package awstrace_test

// The middlewares on a real AWS SDK client (Cognito's, as the functions use it) against an
// HTTP server standing in for the service, which records what the SDK sent.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry/awstrace"
)

type answer struct {
	status int
	body   string
}

// service answers the calls in turn (the last answer repeats) and keeps their headers.
func service(t *testing.T, answers ...answer) (*httptest.Server, func() []http.Header) {
	var mu sync.Mutex
	var headers []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(headers)
		headers = append(headers, r.Header.Clone())
		mu.Unlock()
		a := answers[min(n, len(answers)-1)]
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Requestid", "req-"+string(rune('1'+n)))
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []http.Header { mu.Lock(); defer mu.Unlock(); return append([]http.Header(nil), headers...) }
}

func client(srv *httptest.Server, tp trace.TracerProvider) *cip.Client {
	o := cip.Options{
		Region:       "ap-northeast-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		Retryer: retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 2
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	}
	awstrace.Append(&o.APIOptions, awstrace.Options{TracerProvider: tp, Propagator: propagation.TraceContext{}})
	return cip.New(o)
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes() {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}

// call makes one ListUsers under a parent span and returns the spans other than the parent.
func call(t *testing.T, c func(trace.TracerProvider) *cip.Client) (trace.SpanContext, []sdktrace.ReadOnlySpan, error) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "deleteAccount")
	_, err := c(tp).ListUsers(ctx, &cip.ListUsersInput{UserPoolId: aws.String("ap-northeast-1_pool")})
	parent.End()
	var spans []sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() != "deleteAccount" {
			spans = append(spans, s)
		}
	}
	return parent.SpanContext(), spans, err
}

func TestACallIsAClientSpanUnderTheCallersAndItsContextGoesToTheService(t *testing.T) {
	srv, headers := service(t, answer{200, `{"Users":[]}`})
	parent, spans, err := call(t, func(tp trace.TracerProvider) *cip.Client { return client(srv, tp) })
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 1 {
		t.Fatalf("%d spans, want one per call", len(spans))
	}
	s := spans[0]
	if s.Name() != "Cognito Identity Provider.ListUsers" || s.SpanKind() != trace.SpanKindClient {
		t.Errorf("span %q kind %v", s.Name(), s.SpanKind())
	}
	if s.Parent().SpanID() != parent.SpanID() || s.SpanContext().TraceID() != parent.TraceID() {
		t.Errorf("span's parent %v, want the caller's %v", s.Parent(), parent)
	}
	want := map[string]string{"rpc.system.name": "aws-api", "rpc.method": "Cognito Identity Provider/ListUsers",
		"aws.region": "ap-northeast-1", "http.response.status_code": "200", "aws.request_id": "req-1"}
	for k, v := range want {
		if got := attrs(s)[k]; got != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got, v, attrs(s))
		}
	}
	if s.Status().Code == codes.Error {
		t.Errorf("status %v", s.Status())
	}
	h := headers()[0]
	wantTP := "00-" + parent.TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"
	if h.Get("Traceparent") != wantTP {
		t.Errorf("traceparent sent %q, want %q (the AWS call's span)", h.Get("Traceparent"), wantTP)
	}
	// Added after signing: the signature does not cover it, so a proxy may rewrite it.
	if auth := h.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256") || strings.Contains(auth, "traceparent") {
		t.Errorf("Authorization %q", auth)
	}
}

func TestARefusalIsAnErrorSpanAndARetryStaysOneSpan(t *testing.T) {
	srv, _ := service(t, answer{400, `{"__type":"ResourceNotFoundException","message":"User pool does not exist."}`})
	_, spans, err := call(t, func(tp trace.TracerProvider) *cip.Client { return client(srv, tp) })
	if err == nil || len(spans) != 1 {
		t.Fatalf("err %v, %d spans", err, len(spans))
	}
	if s := spans[0]; s.Status().Code != codes.Error || attrs(s)["error.type"] == "" || attrs(s)["http.response.status_code"] != "400" {
		t.Errorf("a refused call: status %v, attributes %v", s.Status(), attrs(s))
	}

	srv, headers := service(t, answer{500, `{"__type":"InternalErrorException","message":"try again"}`}, answer{200, `{"Users":[]}`})
	_, spans, err = call(t, func(tp trace.TracerProvider) *cip.Client { return client(srv, tp) })
	if err != nil || len(spans) != 1 {
		t.Fatalf("err %v, %d spans, want one span for the call and its retry", err, len(spans))
	}
	if a := attrs(spans[0]); a["http.response.status_code"] != "200" || a["aws.request_id"] != "req-2" || spans[0].Status().Code == codes.Error {
		t.Errorf("retried call: status %v, attributes %v, want the last attempt's", spans[0].Status(), a)
	}
	if h := headers(); len(h) != 2 || h[0].Get("Traceparent") == "" || h[0].Get("Traceparent") != h[1].Get("Traceparent") {
		t.Errorf("attempts sent traceparent %v, want the call's on each", h)
	}
}
