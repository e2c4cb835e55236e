// Package awstrace puts a client span around each call of an AWS SDK for Go v2 client and
// propagates its trace context to the service, with the span name and attributes that
// go.opentelemetry.io/contrib/.../otelaws gave them. otelaws is deprecated, and its attribute
// setters link the DynamoDB, SQS and SNS clients into every binary that uses it (twice the
// binary, and their endpoint and schema tables initialised at every start); the SDK's own
// tracing hooks need github.com/aws/smithy-go/tracing/smithyoteltracing, which the module
// proxy does not serve. These are the three smithy middlewares that otelaws installed, and
// nothing else.
package awstrace

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the spans.
const ScopeName = "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry/awstrace"

// Attribute keys otelaws used besides the semantic conventions' own.
const (
	AttrRegion    = attribute.Key("aws.region")
	AttrRequestID = attribute.Key("aws.request_id")
	// SystemName is rpc.system.name of every span.
	SystemName = "aws-api"
)

// Options choose the tracer provider and propagator; nil ones are the global ones, read at
// each call, so a client made before SetupTracing still traces.
type Options struct {
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

// Append adds the middlewares to an aws.Config's (or a client's) APIOptions.
func Append(apiOptions *[]func(*middleware.Stack) error, o Options) {
	*apiOptions = append(*apiOptions, o.install)
}

func (o Options) tracer() trace.Tracer {
	tp := o.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName)
}

func (o Options) propagator() propagation.TextMapPropagator {
	if o.Propagator != nil {
		return o.Propagator
	}
	return otel.GetTextMapPropagator()
}

func (o Options) install(stack *middleware.Stack) error {
	// After the operation's own initialize middlewares, which register the service's
	// metadata (the region among it): the span covers serialising, signing, every attempt
	// and deserialising.
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("AwstraceSpan", o.span), middleware.After); err != nil {
		return err
	}
	// After retrying and signing: the trace headers go on each attempt and are not signed.
	if err := stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("AwstraceInject", o.inject), middleware.After); err != nil {
		return err
	}
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("AwstraceResponse", response), middleware.Before)
}

// SpanName is the name of the span of one call: "Cognito Identity Provider.AdminDeleteUser".
func SpanName(serviceID, operation string) string {
	if operation == "" {
		return serviceID
	}
	return serviceID + "." + operation
}

func (o Options) span(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	service, operation := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
	method := service + "/" + operation
	if service == "" || operation == "" {
		method = service + operation
	}
	ctx, span := o.tracer().Start(ctx, SpanName(service, operation), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.RPCSystemNameKey.String(SystemName), semconv.RPCMethod(method), AttrRegion.String(awsmiddleware.GetRegion(ctx))))
	defer span.End()
	out, md, err := next.HandleInitialize(ctx, in)
	if err != nil {
		span.SetAttributes(semconv.ErrorType(err))
		span.SetStatus(codes.Error, err.Error())
	}
	return out, md, err
}

func (o Options) inject(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	if req, ok := in.Request.(*smithyhttp.Request); ok {
		o.propagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	return next.HandleFinalize(ctx, in)
}

func response(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
		span := trace.SpanFromContext(ctx)
		span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
		if id, ok := awsmiddleware.GetRequestIDMetadata(md); ok {
			span.SetAttributes(AttrRequestID.String(id))
		}
	}
	return out, md, err
}
