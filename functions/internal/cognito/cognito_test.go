package cognito_test

// These tests run the adapter against a real local Cognito (cognito-local, started once for
// the test binary by cognitotest). Without cognito-local they fail, saying how to install it.

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/cognito"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/cognito/cognitotest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
)

var local *cognitotest.Local

func TestMain(m *testing.M) { os.Exit(cognitotest.Main(m, &local)) }

func TestDeleteUserDeletesTheUserWhoseSubIsTheMemberIDAndIsIdempotent(t *testing.T) {
	pool := local.NewPool(t)
	sub := local.NewUser(t, pool, "aiko")
	otherSub := local.NewUser(t, pool, "bob")
	dir := local.Directory(t, pool)

	if err := dir.DeleteUser(context.Background(), sub); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if local.HasUser(t, pool, "aiko") {
		t.Fatal("the user is still in the pool")
	}
	if !local.HasUser(t, pool, "bob") || local.UserCount(t, pool) != 1 {
		t.Fatal("another user was deleted too")
	}

	t.Run("deleting the same user again succeeds and deletes nothing", func(t *testing.T) {
		if err := dir.DeleteUser(context.Background(), sub); err != nil {
			t.Fatalf("second delete: %v", err)
		}
		if !local.HasUser(t, pool, "bob") || local.UserCount(t, pool) != 1 {
			t.Fatal("another user was deleted")
		}
	})
	t.Run("a sub written in upper case names the same user", func(t *testing.T) {
		if err := dir.DeleteUser(context.Background(), strings.ToUpper(otherSub)); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if local.HasUser(t, pool, "bob") {
			t.Fatal("the user is still in the pool")
		}
	})
	t.Run("a sub no user has is already deleted", func(t *testing.T) {
		if err := dir.DeleteUser(context.Background(), uuid.NewString()); err != nil {
			t.Fatalf("delete of a user who never was: %v", err)
		}
	})
}

func TestAMemberIDThatIsNoUUIDIsRefusedBeforeItReachesTheFilter(t *testing.T) {
	pool := local.NewPool(t)
	local.NewUser(t, pool, "aiko")
	dir := local.Directory(t, pool)
	for _, id := range []string{"", `x" or sub ^= "`, "aiko"} {
		err := dir.DeleteUser(context.Background(), id)
		if err == nil {
			t.Fatalf("DeleteUser(%q) succeeded", id)
		}
		if isTemporary(err) {
			t.Errorf("DeleteUser(%q) = %v: temporary, though a retry cannot cure it", id, err)
		}
	}
	if local.UserCount(t, pool) != 1 {
		t.Fatal("a user was deleted")
	}
}

func TestAPoolThatDoesNotExistIsAnErrorARetryDoesNotCure(t *testing.T) {
	dir := local.Directory(t, "local_nosuchpool")
	err := dir.DeleteUser(context.Background(), uuid.NewString())
	if err == nil {
		t.Fatal("DeleteUser on a missing pool succeeded: a misconfigured pool must not pass for a deleted user")
	}
	if isTemporary(err) {
		t.Fatalf("err = %v: temporary, though the pool will not appear by itself", err)
	}
}

func TestAnUnreachableCognitoIsATemporaryError(t *testing.T) {
	// A port that was free a moment ago: nothing listens there, connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close()
	dir, err := cognito.New(context.Background(), cognito.Config{Region: cognitotest.Region, UserPoolID: "local_pool", Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	err = dir.DeleteUser(context.Background(), uuid.NewString())
	if err == nil {
		t.Fatal("DeleteUser against nothing succeeded")
	}
	t.Logf("unreachable: %v", err)
	if !isTemporary(err) {
		t.Fatalf("err = %v (%T); want an error with Temporary() true", err, err)
	}
	var transient *cognito.TransientError
	if !errors.As(err, &transient) {
		t.Fatalf("err = %T; want *cognito.TransientError", err)
	}
}

func TestNewNamesTheSettingThatIsMissing(t *testing.T) {
	_, err := cognito.New(context.Background(), cognito.Config{UserPoolID: "local_pool"})
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("without a region: %v; want an error naming AWS_REGION", err)
	}
	_, err = cognito.New(context.Background(), cognito.Config{Region: cognitotest.Region})
	if err == nil || !strings.Contains(err.Error(), "COGNITO_USER_POOL_ID") {
		t.Errorf("without a pool: %v; want an error naming COGNITO_USER_POOL_ID", err)
	}
}

// isTemporary is how the Hasura envelope tells a retryable fault (503) from a bug (500).
func isTemporary(err error) bool {
	var t hasura.Temporary
	return errors.As(err, &t) && t.Temporary()
}

func TestEachCognitoCallIsASpanUnderTheCallersOnTheGlobalTracerProvider(t *testing.T) {
	pool := local.NewPool(t)
	sub := local.NewUser(t, pool, "aiko")
	dir := local.Directory(t, pool)
	// Set after the fixtures' calls, and after the client was made: the middlewares read the
	// global provider at each call.
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	ctx, parent := tp.Tracer("test").Start(context.Background(), "deleteAccount")
	if err := dir.DeleteUser(ctx, sub); err != nil {
		t.Fatal(err)
	}
	parent.End()

	var calls []string
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == "deleteAccount" {
			continue
		}
		calls = append(calls, s.Name())
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %q: parent %v kind %v, want a client span under the caller's", s.Name(), s.Parent(), s.SpanKind())
		}
		for _, a := range s.Attributes() {
			if a.Key == "http.response.status_code" && a.Value.AsInt64() != 200 {
				t.Errorf("span %q: status %d", s.Name(), a.Value.AsInt64())
			}
			// The user pool's user is the member: no id of theirs goes into a span.
			if strings.Contains(a.Value.Emit(), sub) {
				t.Errorf("span %q attribute %s holds the member's sub", s.Name(), a.Key)
			}
		}
	}
	if strings.Join(calls, ",") != "Cognito Identity Provider.ListUsers,Cognito Identity Provider.AdminDeleteUser" {
		t.Errorf("spans %v, want the lookup and the delete", calls)
	}
}
