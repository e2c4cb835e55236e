package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
)

// Metrics are the functions' Prometheus metrics, in a registry of their own.
type Metrics struct {
	Registry *prometheus.Registry

	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	inFlight         *prometheus.GaugeVec
	failuresRecorded *prometheus.CounterVec
	points           *prometheus.CounterVec
	coupons          *prometheus.CounterVec
}

// NewMetrics registers the request metrics, the Go runtime's and the process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_requests_total",
			Help: "Requests served, by handler (Hasura action or trigger), HTTP status and outcome code (ok, or the answer's extensions.code).",
		}, []string{"handler", "status", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "loyalty_request_duration_seconds",
			Help: "Time to answer a request, by handler.",
			// Hasura's action timeout is 30 s; earnPoints should answer in tens of ms.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"handler"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "loyalty_requests_in_flight",
			Help: "Requests being served, by handler.",
		}, []string{"handler"}),
		failuresRecorded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_trigger_failures_recorded_total",
			Help: "Failed trigger deliveries written to trigger_failures, by trigger.",
		}, []string{"trigger"}),
		points: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_points_total",
			Help: "Points moved by committed operations of this pod, by ledger kind (earn, redeem, expire).",
		}, []string{"kind"}),
		coupons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_coupons_total",
			Help: "Coupons that changed state in committed operations of this pod, by event (issued, used, expired).",
		}, []string{"event"}),
	}
	for _, kind := range []string{"earn", "redeem", "expire"} {
		m.points.WithLabelValues(kind)
	}
	for _, event := range []string{"issued", "used", "expired"} {
		m.coupons.WithLabelValues(event)
	}
	m.Registry.MustRegister(m.requests, m.duration, m.inFlight, m.failuresRecorded, m.points, m.coupons,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handlers makes the series of every handler exist at zero from the start, so that a rate
// over a fresh pod is 0 rather than absent.
func (m *Metrics) Handlers(names ...string) {
	for _, n := range names {
		m.inFlight.WithLabelValues(n)
		m.duration.WithLabelValues(n)
	}
}

func (m *Metrics) observe(handler string, status int, code string, took time.Duration) {
	m.requests.WithLabelValues(handler, strconv.Itoa(status), code).Inc()
	m.duration.WithLabelValues(handler).Observe(took.Seconds())
}

// CountFailures wraps the recorder of failed deliveries so that each record written counts.
func (m *Metrics) CountFailures(rec hasura.FailureRecorder) hasura.FailureRecorder {
	return failureCounter{rec: rec, m: m}
}

type failureCounter struct {
	rec hasura.FailureRecorder
	m   *Metrics
}

func (f failureCounter) RecordFailure(ctx context.Context, fail hasura.Failure) error {
	err := f.rec.RecordFailure(ctx, fail)
	if err == nil {
		f.m.failuresRecorded.WithLabelValues(fail.Trigger).Inc()
	}
	return err
}

// Pool exports the pgx pool's statistics, read at each scrape.
func (m *Metrics) Pool(p *pgxpool.Pool) {
	m.Registry.MustRegister(poolCollector{p})
}

var (
	poolAcquired  = prometheus.NewDesc("loyalty_db_pool_acquired_connections", "Connections in use.", nil, nil)
	poolIdle      = prometheus.NewDesc("loyalty_db_pool_idle_connections", "Connections idle in the pool.", nil, nil)
	poolTotal     = prometheus.NewDesc("loyalty_db_pool_total_connections", "Connections open (acquired, idle and being opened).", nil, nil)
	poolMax       = prometheus.NewDesc("loyalty_db_pool_max_connections", "Largest number of connections the pool opens.", nil, nil)
	poolAcquires  = prometheus.NewDesc("loyalty_db_pool_acquires_total", "Connections acquired from the pool.", nil, nil)
	poolEmpty     = prometheus.NewDesc("loyalty_db_pool_empty_acquires_total", "Acquires that had to wait because no connection was idle.", nil, nil)
	poolWait      = prometheus.NewDesc("loyalty_db_pool_empty_acquire_wait_seconds_total", "Time spent waiting in acquires that found no idle connection.", nil, nil)
	poolCanceled  = prometheus.NewDesc("loyalty_db_pool_canceled_acquires_total", "Acquires given up because their context ended.", nil, nil)
	poolAcquireIn = prometheus.NewDesc("loyalty_db_pool_acquire_seconds_total", "Time spent in successful acquires.", nil, nil)
)

type poolCollector struct{ p *pgxpool.Pool }

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolTotal, poolMax, poolAcquires, poolEmpty, poolWait, poolCanceled, poolAcquireIn} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stat()
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolEmpty, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWait, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds())
	ch <- prometheus.MustNewConstMetric(poolCanceled, prometheus.CounterValue, float64(s.CanceledAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolAcquireIn, prometheus.CounterValue, s.AcquireDuration().Seconds())
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return mux
}

// Serve listens on port (bound before it returns, so a port in use fails the start) and
// serves GET /metrics there until stop is called. Port "0" serves nothing.
func (m *Metrics) Serve(port string, log *slog.Logger) (stop func(), err error) {
	if port == "" || port == "0" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return nil, fmt.Errorf("METRICS_PORT: %w", err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err.Error())
		}
	}()
	log.Info("serving metrics", "port", port, "path", "/metrics")
	return func() { _ = srv.Close() }, nil
}

// Points counts points a committed operation moved (loyalty.Observer).
func (m *Metrics) Points(kind string, points int64) {
	m.points.WithLabelValues(kind).Add(float64(points))
}

// Coupons counts coupons that changed state (loyalty.Observer).
func (m *Metrics) Coupons(event string, n int) { m.coupons.WithLabelValues(event).Add(float64(n)) }
