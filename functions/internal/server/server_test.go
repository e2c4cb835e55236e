package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

func TestHealthTellsWhetherTheDatabaseAnswers(t *testing.T) {
	cases := []struct {
		name     string
		ping     error
		draining bool
		status   int
		body     string
	}{
		{"database up", nil, false, 200, `{"status":"ok"}`},
		{"database down", errors.New("connection refused"), false, 503, `{"status":"unavailable"}`},
		{"draining with the database up", nil, true, 503, `{"status":"draining"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDrain()
			if c.draining {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_ = d.Wait(ctx, time.Hour)
			}
			rec := httptest.NewRecorder()
			Health(pingFunc(func(context.Context) error { return c.ping }), d).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
			if rec.Code != c.status || strings.TrimSpace(rec.Body.String()) != c.body {
				t.Fatalf("got %d %s; want %d %s", rec.Code, rec.Body, c.status, c.body)
			}
		})
	}
}

// The probe needs no secret, so whoever reaches /healthz must not learn the database's user,
// host, port or name from it; the operator finds them in the log.
func TestHealthAnswersOnlyTheStatusAndLogsWhyTheDatabaseIsDown(t *testing.T) {
	const detail = `failed to connect to user=loyalty database=loyalty host=10.0.3.7 port=5432: connection refused`
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	rec := httptest.NewRecorder()
	Health(pingFunc(func(context.Context) error { return errors.New(detail) }), NewDrain()).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	for _, leak := range []string{"10.0.3.7", "5432", "user=", "database=", "refused"} {
		if strings.Contains(rec.Body.String(), leak) {
			t.Errorf("the answer %s gives away %q", rec.Body, leak)
		}
	}
	if !strings.Contains(logs.String(), "host=10.0.3.7 port=5432") {
		t.Errorf("the log does not say why the database is down:\n%s", logs.String())
	}
}

func TestDrainWaitsForRequestsInFlight(t *testing.T) {
	d := NewDrain()
	release := make(chan struct{})
	started := make(chan struct{})
	h := d.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/x", nil))
	<-started
	waited := make(chan error, 1)
	go func() { waited <- d.Wait(context.Background(), 10*time.Millisecond) }()
	select {
	case <-waited:
		t.Fatal("Wait returned while a request was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	if !d.Draining() || d.InFlight() != 1 {
		t.Fatalf("draining=%v inFlight=%d", d.Draining(), d.InFlight())
	}
	close(release)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
}

func TestDrainGivesUpWhenItsContextEnds(t *testing.T) {
	d := NewDrain()
	block := make(chan struct{})
	defer close(block)
	started := make(chan struct{})
	go d.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { close(started); <-block })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/x", nil))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := d.Wait(ctx, time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}
