// Package server holds what the functions binary needs around its handlers: a health check
// and the draining of in-flight requests on shutdown.
package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Pinger is the database, as the health check sees it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Health answers GET /healthz: 200 when the database answers, 503 when it does not or when
// the server is draining (so Knative stops sending work). It needs no secret: probes send none,
// so it answers only the status; why the database is down (user, host, port) goes to the log.
func Health(db Pinger, d *Drain) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		status, body := http.StatusOK, map[string]string{"status": "ok"}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			status, body = http.StatusServiceUnavailable, map[string]string{"status": "unavailable"}
			slog.Default().Warn("health check: the database does not answer", "path", r.URL.Path, "status", status, "error", err.Error())
		}
		if d != nil && d.Draining() {
			status, body["status"] = http.StatusServiceUnavailable, "draining"
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	})
}

// Drain counts requests in flight so that shutdown can wait for them. functions-framework-go
// serves with http.ListenAndServe and offers no Shutdown; this is how its server drains.
type Drain struct {
	mu       sync.Mutex
	inFlight int
	idle     chan struct{} // closed while nothing is in flight
	lastDone time.Time
	draining atomic.Bool
}

// NewDrain returns a Drain with nothing in flight.
func NewDrain() *Drain {
	idle := make(chan struct{})
	close(idle)
	return &Drain{idle: idle}
}

// Wrap counts h's requests.
func (d *Drain) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		if d.inFlight == 0 {
			d.idle = make(chan struct{})
		}
		d.inFlight++
		d.mu.Unlock()
		defer func() {
			d.mu.Lock()
			d.inFlight--
			d.lastDone = time.Now()
			if d.inFlight == 0 {
				close(d.idle)
			}
			d.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// Draining tells whether Wait has begun.
func (d *Drain) Draining() bool { return d.draining.Load() }

// InFlight is the number of requests being served.
func (d *Drain) InFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inFlight
}

// Wait marks the server draining and returns once no request has been in flight for quiet
// (requests that still arrive are served and waited for), or when ctx ends.
func (d *Drain) Wait(ctx context.Context, quiet time.Duration) error {
	d.draining.Store(true)
	for {
		d.mu.Lock()
		idle, since := d.idle, time.Since(d.lastDone)
		d.mu.Unlock()
		select {
		case <-idle:
			if d.InFlight() == 0 && since >= quiet {
				return nil
			}
			select {
			case <-time.After(max(quiet-since, time.Millisecond)):
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
