// Package telemetry is the functions' observability: OpenTelemetry traces exported over OTLP
// when the standard OTEL_* variables ask for it, the trace context Hasura and Knative
// propagate, and Prometheus metrics on a port of their own.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// ServiceName names the functions in traces unless OTEL_SERVICE_NAME says otherwise.
const ServiceName = "loyalty-functions"

// Propagator reads and writes W3C traceparent/baggage and both B3 forms. Knative's
// queue-proxy and Hasura may send either; extraction accepts every one of them.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{},
		b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)))
}

// TracingEnabled tells whether getenv asks for traces to be exported: an OTLP endpoint is set
// and the SDK is not disabled.
func TracingEnabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// SetupTracing installs the propagator and, when TracingEnabled, a tracer provider that
// exports over OTLP/HTTP (protobuf) as the OTEL_* variables configure it: endpoint, headers,
// timeout, compression and certificates (exportConfigFromEnv), sampler and batch sizes (the
// SDK), resource attributes. Otherwise no exporter is made and spans stay non-recording:
// they still carry the incoming trace id into the logs. shutdown flushes what is buffered;
// call it before exit.
func SetupTracing(ctx context.Context, getenv func(string) string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(Propagator())
	shutdown = func(context.Context) error { return nil }
	if !TracingEnabled(getenv) {
		return shutdown, nil
	}
	cfg, err := exportConfigFromEnv(getenv, os.ReadFile)
	if err != nil {
		return nil, err
	}
	// The exporter connects at its first batch, not here.
	exp, err := otlptrace.New(ctx, newHTTPClient(cfg))
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(ServiceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv()) // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	// The SDK's default error handler writes plain text to stderr; keep the logs JSON.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("telemetry", "error", err.Error()) }))
	log.Info("exporting traces over OTLP/HTTP", "url", redacted(cfg.URL))
	return tp.Shutdown, nil
}

// redacted is u without a password, for the log.
func redacted(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return ""
}
