package hasura_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
)

var errBoom = errors.New("boom: connection to 10.0.0.7:5432 refused for user loyalty")

// temporary is an error a retry may cure.
type temporary struct{ notReally bool }

func (temporary) Error() string     { return "database unreachable" }
func (e temporary) Temporary() bool { return !e.notReally }

// bodySpy is a request body that notes whether anyone read it.
type bodySpy struct {
	r    io.Reader
	read atomic.Bool
}

func (b *bodySpy) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

func (b *bodySpy) Close() error { return nil }

func TestOnlyCallersWithTheSharedSecretGetIn(t *testing.T) {
	tests := []struct {
		name   string
		secret string // configured in the Envelope
		header *string
	}{
		{"a request without the header is refused", hasuratest.Secret, nil},
		{"a request with an empty header is refused", hasuratest.Secret, ptr("")},
		{"a request with a wrong secret is refused", hasuratest.Secret, ptr("wrong")},
		{"a secret in another case is refused", hasuratest.Secret, ptr(strings.ToUpper(hasuratest.Secret))},
		{"a secret with a trailing space is refused", hasuratest.Secret, ptr(hasuratest.Secret + " ")},
		{"a prefix of the secret is refused", hasuratest.Secret, ptr(hasuratest.Secret[:5])},
		{"the secret with more after it is refused", hasuratest.Secret, ptr(hasuratest.Secret + "x")},
		{"an envelope without a secret refuses a request without one", "", nil},
		{"an envelope without a secret refuses an empty header", "", ptr("")},
		{"an envelope without a secret refuses any secret", "", ptr(hasuratest.Secret)},
	}
	for _, k := range kinds {
		for _, tt := range tests {
			t.Run(k.name+": "+tt.name, func(t *testing.T) {
				failures := &failureLog{}
				env := newEnv(failures)
				env.Secret = tt.secret
				calls := 0
				req := k.request(t)
				req.Header.Del(hasura.SecretHeader)
				if tt.header != nil {
					req.Header.Set(hasura.SecretHeader, *tt.header)
				}
				body := checkErrorShape(t, hasuratest.Do(t, k.serve(env, ok("x"), &calls), req), http.StatusUnauthorized)
				if body.Extensions.Code != "unauthorized" {
					t.Errorf("code = %q, want unauthorized", body.Extensions.Code)
				}
				if calls != 0 {
					t.Errorf("the handler function ran %d times for an unauthorized caller", calls)
				}
				if f := failures.all(); len(f) != 0 {
					t.Errorf("an unauthorized call was recorded as a failed delivery: %+v", f)
				}
			})
		}
		t.Run(k.name+": the secret is checked before the body is read", func(t *testing.T) {
			env := newEnv(nil)
			env.MaxBody = 1024
			calls := 0
			spyBody := &bodySpy{r: bytes.NewReader(bytes.Repeat([]byte(" "), 4096))}
			req := k.request(t)
			req.Header.Del(hasura.SecretHeader)
			req.Body = spyBody
			checkErrorShape(t, hasuratest.Do(t, k.serve(env, ok("x"), &calls), req), http.StatusUnauthorized)
			if spyBody.read.Load() {
				t.Error("the body of an unauthorized request was read")
			}
			if calls != 0 {
				t.Errorf("the handler function ran %d times", calls)
			}
		})
		t.Run(k.name+": the secret is checked before the method", func(t *testing.T) {
			calls := 0
			req := k.request(t)
			req.Method = http.MethodGet
			req.Header.Del(hasura.SecretHeader)
			checkErrorShape(t, hasuratest.Do(t, k.serve(newEnv(nil), ok("x"), &calls), req), http.StatusUnauthorized)
		})
		t.Run(k.name+": the right secret gets in", func(t *testing.T) {
			calls := 0
			rec := hasuratest.Do(t, k.serve(newEnv(nil), ok("x"), &calls), k.request(t))
			if rec.Code != http.StatusOK || calls != 1 {
				t.Errorf("status %d after %d calls: %s", rec.Code, calls, rec.Body)
			}
		})
	}
}

func TestOnlyPOSTIsServed(t *testing.T) {
	for _, k := range kinds {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			t.Run(k.name+": "+method+" is not allowed", func(t *testing.T) {
				calls := 0
				req := k.request(t)
				req.Method = method
				rec := hasuratest.Do(t, k.serve(newEnv(nil), ok("x"), &calls), req)
				checkErrorShape(t, rec, http.StatusMethodNotAllowed)
				if allow := rec.Header().Get("Allow"); allow != http.MethodPost {
					t.Errorf("Allow = %q, want POST", allow)
				}
				if calls != 0 {
					t.Errorf("the handler function ran %d times", calls)
				}
			})
		}
	}
}

// padTo returns body followed by spaces up to n bytes: still the same JSON value.
func padTo(t *testing.T, body []byte, n int) []byte {
	t.Helper()
	if len(body) > n {
		t.Fatalf("body of %d bytes is already over %d", len(body), n)
	}
	return append(body, bytes.Repeat([]byte(" "), n-len(body))...)
}

func TestBodiesOverTheLimitAreRefusedUnread(t *testing.T) {
	tests := []struct {
		name     string
		maxBody  int64
		size     int
		wantCode int
	}{
		{"a body of exactly the configured limit is served", 2048, 2048, http.StatusOK},
		{"a body one byte over the configured limit is refused", 2048, 2049, http.StatusRequestEntityTooLarge},
		{"a body of exactly the default limit is served", 0, hasura.DefaultMaxBody, http.StatusOK},
		{"a body one byte over the default limit is refused", 0, hasura.DefaultMaxBody + 1, http.StatusRequestEntityTooLarge},
		{"a body far over the limit is refused", 2048, 4 << 20, http.StatusRequestEntityTooLarge},
	}
	for _, k := range kinds {
		for _, tt := range tests {
			t.Run(k.name+": "+tt.name, func(t *testing.T) {
				env := newEnv(nil)
				env.MaxBody = tt.maxBody
				calls := 0
				req := k.request(t)
				body, err := io.ReadAll(req.Body)
				if err != nil {
					t.Fatal(err)
				}
				req = hasuratest.RawRequest(t, req.URL.Path, padTo(t, body, tt.size))
				rec := hasuratest.Do(t, k.serve(env, ok("x"), &calls), req)
				if tt.wantCode == http.StatusOK {
					if rec.Code != http.StatusOK || calls != 1 {
						t.Fatalf("status %d after %d calls: %s", rec.Code, calls, rec.Body)
					}
					return
				}
				answer := checkErrorShape(t, rec, tt.wantCode)
				if answer.Extensions.Code != hasura.InvalidInput {
					t.Errorf("code = %q", answer.Extensions.Code)
				}
				if calls != 0 {
					t.Errorf("the handler function ran %d times for an oversized body", calls)
				}
			})
		}
	}
}

func TestMalformedBodiesAreRefusedAsInvalidInput(t *testing.T) {
	for _, k := range kinds {
		valid, err := io.ReadAll(k.request(t).Body)
		if err != nil {
			t.Fatal(err)
		}
		testMalformedBodies(t, k, valid)
	}
}

func testMalformedBodies(t *testing.T, k kind, valid []byte) {
	tests := []struct {
		name string
		body []byte
	}{
		{"an empty body", nil},
		{"a body of spaces", []byte("   \n")},
		{"a body cut short", valid[:len(valid)/2]},
		{"a body that is not JSON", []byte("action=earnPoints")},
		{"a body with an extra closing brace", append(bytes.TrimSpace(bytes.Clone(valid)), '}')},
		{"a body with an extra closing bracket", append(bytes.TrimSpace(bytes.Clone(valid)), ']')},
		{"a body of two JSON values", append(bytes.Clone(valid), valid...)},
		{"a body with garbage after the value", append(bytes.Clone(valid), []byte("xyz")...)},
		{"a JSON null", []byte("null")},
		{"a JSON list", []byte(`[{"action":{"name":"earnPoints"}}]`)},
		{"a JSON string", []byte(`"earnPoints"`)},
		{"a JSON number", []byte(`42`)},
	}
	t.Run(k.name+": the valid body itself is served", func(t *testing.T) {
		calls := 0
		rec := hasuratest.Do(t, k.serve(newEnv(nil), ok("x"), &calls), hasuratest.RawRequest(t, k.request(t).URL.Path, valid))
		if rec.Code != http.StatusOK || calls != 1 {
			t.Fatalf("status %d after %d calls: %s", rec.Code, calls, rec.Body)
		}
	})
	for _, tt := range tests {
		t.Run(k.name+": "+tt.name, func(t *testing.T) {
			calls := 0
			req := hasuratest.RawRequest(t, k.request(t).URL.Path, tt.body)
			rec := hasuratest.Do(t, k.serve(newEnv(nil), ok("x"), &calls), req)
			answer := checkErrorShape(t, rec, http.StatusBadRequest)
			if answer.Extensions.Code != hasura.InvalidInput {
				t.Errorf("code = %q, want %q", answer.Extensions.Code, hasura.InvalidInput)
			}
			if calls != 0 {
				t.Errorf("the handler function ran %d times for a malformed body", calls)
			}
		})
	}
}

func TestHandlerErrorsBecomeHasuraAnswers(t *testing.T) {
	type want struct {
		status  int
		code    string
		message string // "" means: any, but not the error's own text
	}
	tests := []struct {
		name string
		err  error
		want want
	}{
		{"a hasura.Error keeps its status, code and message", &hasura.Error{Status: 404, Code: "member_not_found", Message: "no member with that code"},
			want{404, "member_not_found", "no member with that code"}},
		{"a conflict keeps its status", &hasura.Error{Status: 409, Code: "duplicate_receipt", Message: "receipt already used"},
			want{409, "duplicate_receipt", "receipt already used"}},
		{"a wrapped hasura.Error is found", fmt.Errorf("earn: %w", &hasura.Error{Status: 422, Code: "insufficient_points", Message: "not enough points"}),
			want{422, "insufficient_points", "not enough points"}},
		{"a hasura.Error without a status falls back to 400", &hasura.Error{Code: "bad", Message: "bad"}, want{400, "bad", "bad"}},
		{"a hasura.Error with a 5xx status falls back to 400", &hasura.Error{Status: 500, Code: "bad", Message: "bad"}, want{400, "bad", "bad"}},
		{"a hasura.Error with a 3xx status falls back to 400", &hasura.Error{Status: 302, Code: "bad", Message: "bad"}, want{400, "bad", "bad"}},
		{"a hasura.Error with a 2xx status falls back to 400", &hasura.Error{Status: 200, Code: "bad", Message: "bad"}, want{400, "bad", "bad"}},
		{"a temporary error is a 503", temporary{}, want{503, "unavailable", ""}},
		{"a wrapped temporary error is a 503", fmt.Errorf("earn: %w", temporary{}), want{503, "unavailable", ""}},
		{"a deadline that passed is a 503", fmt.Errorf("query: %w", context.DeadlineExceeded), want{503, "unavailable", ""}},
		{"an error that says it is not temporary is a 500", temporary{notReally: true}, want{500, "internal", ""}},
		{"any other error is a 500", errBoom, want{500, "internal", ""}},
	}
	for _, k := range kinds {
		for _, tt := range tests {
			t.Run(k.name+": "+tt.name, func(t *testing.T) {
				calls := 0
				rec := hasuratest.Do(t, k.serve(newEnv(nil), fails(tt.err), &calls), k.request(t))
				body := checkErrorShape(t, rec, tt.want.status)
				if body.Extensions.Code != tt.want.code {
					t.Errorf("code = %q, want %q", body.Extensions.Code, tt.want.code)
				}
				if tt.want.message != "" && body.Message != tt.want.message {
					t.Errorf("message = %q, want %q", body.Message, tt.want.message)
				}
				if tt.want.message == "" && strings.Contains(body.Message, tt.err.Error()) {
					t.Errorf("message %q leaks the error's text", body.Message)
				}
				retryAfter := rec.Header().Get("Retry-After")
				switch wantRetry := k.trigger && tt.want.status == http.StatusServiceUnavailable; {
				case wantRetry && retryAfter != "10":
					t.Errorf("Retry-After = %q, want the default 10 seconds", retryAfter)
				case !wantRetry && retryAfter != "":
					t.Errorf("Retry-After = %q, want none", retryAfter)
				}
			})
		}
	}
}

func TestRetryAfterIsTheConfiguredPauseInWholeSeconds(t *testing.T) {
	seconds := regexp.MustCompile(`^[0-9]+$`)
	tests := []struct {
		name  string
		pause time.Duration
		want  string
	}{
		{"no pause configured asks for 10 seconds", 0, "10"},
		{"a pause of 90 seconds asks for 90", 90 * time.Second, "90"},
		{"a pause under a second asks for the default", 300 * time.Millisecond, "10"},
	}
	for _, k := range kinds[1:] {
		for _, tt := range tests {
			t.Run(k.name+": "+tt.name, func(t *testing.T) {
				env := newEnv(nil)
				env.RetryAfter = tt.pause
				calls := 0
				rec := hasuratest.Do(t, k.serve(env, fails(temporary{}), &calls), k.request(t))
				got := rec.Header().Get("Retry-After")
				if rec.Code != http.StatusServiceUnavailable || got != tt.want || !seconds.MatchString(got) {
					t.Errorf("status %d, Retry-After %q, want 503 and %q", rec.Code, got, tt.want)
				}
			})
		}
	}
}

func TestSuccessWritesTheOutputAsJSON(t *testing.T) {
	tests := []struct {
		name string
		out  any
		want string
	}{
		{"an object output", earnOutput{Earned: 12, Balance: 112}, `{"earned":12,"balance":112}`},
		{"a list output", []earnOutput{{Earned: 1, Balance: 2}}, `[{"earned":1,"balance":2}]`},
		{"an empty list output stays a list", []earnOutput{}, `[]`},
		{"a nil output of a nullable type", (*earnOutput)(nil), `null`},
		{"a string output", "done", `"done"`},
	}
	for _, k := range kinds {
		for _, tt := range tests {
			t.Run(k.name+": "+tt.name, func(t *testing.T) {
				failures := &failureLog{}
				calls := 0
				rec := hasuratest.Do(t, k.serve(newEnv(failures), ok(tt.out), &calls), k.request(t))
				if rec.Code != http.StatusOK || calls != 1 {
					t.Fatalf("status %d after %d calls: %s", rec.Code, calls, rec.Body)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				if got := strings.TrimSpace(rec.Body.String()); got != tt.want {
					t.Errorf("body = %s, want %s", got, tt.want)
				}
				if rec.Header().Get("Retry-After") != "" {
					t.Errorf("a success carries Retry-After %q", rec.Header().Get("Retry-After"))
				}
				if f := failures.all(); len(f) != 0 {
					t.Errorf("a success was recorded as a failure: %+v", f)
				}
			})
		}
	}
}

// An output encoding/json cannot write must not become a 200 with an empty body, which
// Hasura would take as a success (triggers) or fail to parse (actions).
func TestAnOutputThatCannotBeWrittenIsA500(t *testing.T) {
	for _, k := range kinds {
		for name, out := range map[string]any{"NaN": math.NaN(), "a channel": make(chan int)} {
			t.Run(k.name+": "+name, func(t *testing.T) {
				failures := &failureLog{}
				calls := 0
				rec := hasuratest.Do(t, k.serve(newEnv(failures), ok(out), &calls), k.request(t))
				checkErrorShape(t, rec, http.StatusInternalServerError)
				if got := len(failures.all()); k.trigger != (got == 1) {
					t.Errorf("%d failures recorded", got)
				}
			})
		}
	}
}

// Every way to fail answers exactly {"message": string, "extensions": {"code": string}}.
func TestEveryErrorAnswerHasExactlyHasurasShape(t *testing.T) {
	for _, k := range kinds {
		scenarios := []struct {
			name   string
			status int
			serve  func(t *testing.T) (*http.Request, result, *hasura.Envelope)
		}{
			{"no secret", 401, func(t *testing.T) (*http.Request, result, *hasura.Envelope) {
				r := k.request(t)
				r.Header.Del(hasura.SecretHeader)
				return r, ok("x"), newEnv(nil)
			}},
			{"a GET", 405, func(t *testing.T) (*http.Request, result, *hasura.Envelope) {
				r := k.request(t)
				r.Method = http.MethodGet
				return r, ok("x"), newEnv(nil)
			}},
			{"a body too large", 413, func(t *testing.T) (*http.Request, result, *hasura.Envelope) {
				env := newEnv(nil)
				env.MaxBody = 10
				return k.request(t), ok("x"), env
			}},
			{"a malformed body", 400, func(t *testing.T) (*http.Request, result, *hasura.Envelope) {
				return hasuratest.RawRequest(t, k.request(t).URL.Path, []byte(`{"id":`)), ok("x"), newEnv(nil)
			}},
			{"a refusal by the handler", 409, func(t *testing.T) (*http.Request, result, *hasura.Envelope) {
				return k.request(t), fails(&hasura.Error{Status: 409, Code: "duplicate", Message: "already done"}), newEnv(nil)
			}},
			{"a temporary failure", 503, func(t *testing.T) (*http.Request, result, *hasura.Envelope) {
				return k.request(t), fails(temporary{}), newEnv(nil)
			}},
			{"an internal failure", 500, func(t *testing.T) (*http.Request, result, *hasura.Envelope) {
				return k.request(t), fails(errBoom), newEnv(nil)
			}},
		}
		for _, sc := range scenarios {
			t.Run(k.name+": "+sc.name, func(t *testing.T) {
				req, res, env := sc.serve(t)
				calls := 0
				rec := hasuratest.Do(t, k.serve(env, res, &calls), req)
				checkErrorShape(t, rec, sc.status)
				var raw map[string]json.RawMessage
				_ = json.Unmarshal(rec.Body.Bytes(), &raw)
				var ext map[string]json.RawMessage
				_ = json.Unmarshal(raw["extensions"], &ext)
				if !bytes.HasPrefix(raw["message"], []byte(`"`)) || !bytes.HasPrefix(ext["code"], []byte(`"`)) {
					t.Errorf("message %s and code %s must be JSON strings", raw["message"], ext["code"])
				}
			})
		}
	}
}
