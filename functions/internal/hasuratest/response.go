package hasuratest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
)

// Do serves req with h and returns the recorded response.
func Do(t testing.TB, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// DeliverConcurrently sends d to h n times at once, as Hasura may when several engine
// instances deliver one event, and returns the n responses in no particular order.
func DeliverConcurrently(t testing.TB, h http.Handler, d Delivery, n int) []*httptest.ResponseRecorder {
	t.Helper()
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = d.Request(t)
	}
	recs := make([]*httptest.ResponseRecorder, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range reqs {
		recs[i] = httptest.NewRecorder()
		wg.Go(func() {
			<-start
			h.ServeHTTP(recs[i], reqs[i])
		})
	}
	close(start)
	wg.Wait()
	return recs
}

// DecodeError reads an error answer and fails the test unless it is an error status with a
// JSON body of exactly Hasura's shape: {"message": non-empty string, "extensions": {"code":
// non-empty string}}. A numeric code or a missing message breaks Hasura's parsing, and any
// other key is something the handler did not mean to show.
func DecodeError(t testing.TB, rec *httptest.ResponseRecorder) hasura.Body {
	t.Helper()
	if rec.Code < 400 {
		t.Fatalf("status %d is not an error; body: %s", rec.Code, rec.Body)
	}
	body, err := CheckErrorBody(rec.Header(), rec.Body.Bytes())
	if err != "" {
		t.Fatalf("status %d: %s; body: %s", rec.Code, err, rec.Body)
	}
	return body
}

// CheckErrorBody checks header and body of an error answer against Hasura's error shape and
// says what is wrong ("" when nothing is). DecodeError is the usual way to call it.
func CheckErrorBody(header http.Header, raw []byte) (hasura.Body, string) {
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/json" {
		return hasura.Body{}, "Content-Type is " + header.Get("Content-Type") + ", not application/json"
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return hasura.Body{}, "body is not a JSON object: " + err.Error()
	}
	if _, err := dec.Token(); err != io.EOF {
		return hasura.Body{}, "body has more than one JSON value"
	}
	if keys := sortedKeys(m); !slices.Equal(keys, []string{"extensions", "message"}) {
		return hasura.Body{}, "body keys are " + jsonString(keys) + ", want exactly message and extensions"
	}
	msg, ok := m["message"].(string)
	if !ok || msg == "" {
		return hasura.Body{}, "message must be a non-empty string"
	}
	ext, ok := m["extensions"].(map[string]any)
	if !ok {
		return hasura.Body{}, "extensions must be an object"
	}
	if keys := sortedKeys(ext); !slices.Equal(keys, []string{"code"}) {
		return hasura.Body{}, "extensions keys are " + jsonString(keys) + ", want exactly code"
	}
	code, ok := ext["code"].(string)
	if !ok || code == "" {
		return hasura.Body{}, "extensions.code must be a non-empty string"
	}
	return hasura.Body{Message: msg, Extensions: hasura.Extensions{Code: code}}, ""
}

// DecodeOutput reads a successful answer into T and fails the test unless the status is 200,
// the body is JSON and it has no field T lacks: Hasura refuses (older engines) or drops
// (newer ones) fields outside the action's output type.
func DecodeOutput[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var out T
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body: %s", rec.Code, rec.Body)
	}
	if mt, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type")); mt != "application/json" {
		t.Fatalf("Content-Type is %q, not application/json", rec.Header().Get("Content-Type"))
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decode the output: %v; body: %s", err, rec.Body)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("the output has more than one JSON value: %s", rec.Body)
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
