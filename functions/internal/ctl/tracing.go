package ctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry"
)

// TracerScope is the instrumentation scope of the run's span.
const TracerScope = "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/ctl"

// flushTimeout bounds the wait for the last spans at exit (the exporter retries within
// OTEL_EXPORTER_OTLP_TIMEOUT, 10 s by default, which an operator should not wait for).
const flushTimeout = 5 * time.Second

// tracing is the tracer provider of a run and what to call before exit. The factory's
// TracerProvider if it has one (tests; its owner flushes it); else, when the OTEL_*
// variables ask for traces (telemetry.TracingEnabled), telemetry's OTLP exporter, installed
// as the global provider for the AWS clients and flushed by flush; else the global one,
// which records nothing: no exporter, nothing printed.
func (f *Factory) tracing(ctx context.Context) (tp trace.TracerProvider, flush func(), err error) {
	if f.TracerProvider != nil {
		return f.TracerProvider, func() {}, nil
	}
	if !telemetry.TracingEnabled(f.Getenv) {
		return otel.GetTracerProvider(), func() {}, nil
	}
	// Only the exporter's warnings reach stderr, not its start-up line: a command's
	// output stays what it is without tracing.
	log := slog.New(slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	shutdown, err := telemetry.SetupTracing(ctx, f.Getenv, log)
	if err != nil {
		return nil, nil, &Error{Code: "config", Message: err.Error()}
	}
	return otel.GetTracerProvider(), func() {
		// Also after an interrupt: the spans of a cancelled run are the interesting ones.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := shutdown(fctx); err != nil {
			fmt.Fprintf(f.IO.ErrOut, "warning: could not export the traces: %v\n", err)
		}
	}, nil
}

// startRun starts the run's root span, named after the subcommand args select
// ("loyaltyctl images upload"); the AWS and other spans of the run are its children.
func startRun(ctx context.Context, tp trace.TracerProvider, root *cobra.Command, args []string) (context.Context, trace.Span) {
	name := root.Name()
	if cmd, _, err := root.Find(args); err == nil {
		name = cmd.CommandPath()
	}
	return tp.Tracer(TracerScope).Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal))
}

// endRun ends the run's span with the exit code; a failure is an error with the error's
// stable code ("usage" for bad usage), not its message, which may quote the data.
func endRun(span trace.Span, cmd *cobra.Command, code int, err error) {
	if cmd != nil {
		span.SetName(cmd.CommandPath())
	}
	span.SetAttributes(semconv.ProcessExitCode(code))
	if err != nil {
		kind := codeOf(err)
		var flagErr *FlagError
		if errors.As(err, &flagErr) {
			kind = "usage"
		}
		span.SetAttributes(semconv.ErrorTypeKey.String(kind))
		span.SetStatus(codes.Error, kind)
	}
	span.End()
}
