package hasura

import (
	"context"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span attributes naming what a request was about. Only Hasura's names and ids: never the
// member's input, which may hold personal data.
const (
	AttrActionName  = attribute.Key("hasura.action.name")
	AttrRole        = attribute.Key("hasura.role")
	AttrTriggerName = attribute.Key("hasura.trigger.name")
	AttrEventID     = attribute.Key("hasura.event.id")
	AttrEventOp     = attribute.Key("hasura.event.op")
	AttrAttempt     = attribute.Key("hasura.delivery.attempt")
)

// annotate adds attrs to the request's span (the one telemetry starts around the handler).
func annotate(ctx context.Context, attrs ...attribute.KeyValue) {
	trace.SpanFromContext(ctx).SetAttributes(attrs...)
}

// withTrace adds the request's trace and span ids to log, so every line of it can be found
// from a trace and the other way round.
func withTrace(ctx context.Context, log *slog.Logger) *slog.Logger {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return log
	}
	return log.With("trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
}

// Authentic tells whether r carries an accepted shared secret, for middleware that must
// read nothing more of a request the envelope would refuse.
func (env *Envelope) Authentic(r *http.Request) bool {
	return secretMatches(secretOf(r), env.secrets())
}
