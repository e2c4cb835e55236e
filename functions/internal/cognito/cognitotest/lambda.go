package cognitotest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// Func is a Lambda function: the event in, the answer out, or an error the Lambda service
// reports as the function's failure.
type Func func(ctx context.Context, event json.RawMessage) (json.RawMessage, error)

// Lambda stands in for the AWS Lambda service: it answers the Invoke API
// (POST /2015-03-31/functions/<name>/invocations) by running the Go function registered
// under that name in the test's own process, the way the Lambda runtime would run it.
type Lambda struct {
	URL   string // http://127.0.0.1:<port>, cognito-local's LambdaClient endpoint
	mu    sync.Mutex
	funcs map[string]Func
}

// NewLambda starts a Lambda stand-in, closed when the test ends. Register functions with
// Handle; a call to a name without one answers ResourceNotFoundException.
func NewLambda(t testing.TB) *Lambda {
	l := &Lambda{funcs: map[string]Func{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", l.invoke)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

// Handle makes f the function called name, replacing any before it.
func (l *Lambda) Handle(name string, f Func) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.funcs[name] = f
}

func (l *Lambda) invoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	l.mu.Lock()
	f := l.funcs[name]
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f == nil {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"Type": "User", "Message": "Function not found: " + name})
		return
	}
	event, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, err := f(r.Context(), event)
	if err != nil {
		// What Lambda answers for a function that returned an error: 200, the error in the
		// body, and X-Amz-Function-Error naming it a function failure.
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		json.NewEncoder(w).Encode(map[string]string{"errorMessage": err.Error(), "errorType": fmt.Sprintf("%T", err)})
		return
	}
	w.Write(out)
}

// AsCognitoSends wraps a Pre Token Generation function so that it gets the event real
// Cognito sends, where cognito-local 5.3.0 falls short in two ways: it writes version "0"
// (Cognito writes "1" for a version 1 trigger) and leaves groupConfiguration empty (Cognito
// lists the user's groups in groupsToOverride). The groups are read from this cognito-local,
// so a user's groups in the event are the ones the test put them in.
func (l *Local) AsCognitoSends(f Func) Func {
	return func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		var event map[string]any
		if err := json.Unmarshal(raw, &event); err != nil {
			return nil, fmt.Errorf("cognitotest: the event is not a JSON object: %w", err)
		}
		pool, _ := event["userPoolId"].(string)
		user, _ := event["userName"].(string)
		groups := []string{}
		out, err := l.client.AdminListGroupsForUser(ctx, &cip.AdminListGroupsForUserInput{UserPoolId: aws.String(pool), Username: aws.String(user)})
		if err != nil {
			return nil, fmt.Errorf("cognitotest: list the groups of %s: %w", user, err)
		}
		for _, g := range out.Groups {
			groups = append(groups, aws.ToString(g.GroupName))
		}
		event["version"] = "1"
		request, _ := event["request"].(map[string]any)
		if request == nil {
			return nil, fmt.Errorf("cognitotest: the event has no request: %s", raw)
		}
		request["groupConfiguration"] = map[string]any{"groupsToOverride": groups, "iamRolesToOverride": []string{}, "preferredRole": nil}
		mended, err := json.Marshal(event)
		if err != nil {
			return nil, err
		}
		return f(ctx, mended)
	}
}
