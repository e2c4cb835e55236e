// Command functions serves every action, event trigger and cron trigger of the loyalty
// programme at POST /<name>, and a health check at GET /healthz, on functions-framework-go.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/cognito"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/config"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/failures"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/memberqr"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/server"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry"
)

func main() {
	if err := run(); err != nil {
		slog.Error("functions stopped", "error", err.Error())
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: logLevel(cfg.LogLevel)}))
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	tcfg, err := telemetry.LoadConfig(cfg.Port)
	if err != nil {
		return err
	}
	flushTraces, err := telemetry.SetupTracing(ctx, os.Getenv, log)
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := flushTraces(fctx); err != nil {
			log.Warn("could not flush the last traces", "error", err.Error())
		}
	}()

	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	var opts []loyalty.Option
	if cfg.MemberQRSecret != "" {
		qr, err := memberqr.New(cfg.MemberQRSecret, cfg.MemberQRSecretPrevious)
		if err != nil {
			return err
		}
		opts = append(opts, loyalty.WithQRTokens(qr))
	}
	if cfg.CognitoUserPoolID != "" {
		if cfg.AWSRegion == "" {
			return errors.New("missing required environment variables: AWS_REGION (COGNITO_USER_POOL_ID is set)")
		}
		dir, err := cognito.New(ctx, cognito.Config{Region: cfg.AWSRegion, UserPoolID: cfg.CognitoUserPoolID, Endpoint: cfg.CognitoEndpoint})
		if err != nil {
			return err
		}
		opts = append(opts, loyalty.WithAccountDirectory(dir))
	}
	metrics := telemetry.NewMetrics()
	metrics.Pool(pool)
	svc := loyalty.New(pool, append(opts, loyalty.WithObserver(metrics))...)
	env := &hasura.Envelope{Secret: cfg.ActionSecret, PreviousSecret: cfg.ActionSecretPrevious, MaxBody: cfg.MaxBodyBytes, Logger: log, Failures: metrics.CountFailures(failures.Recorder{DB: pool})}
	drain := server.NewDrain()
	// Registered by name, the functions-framework way: each is served at /<name>, or alone at
	// / when FUNCTION_TARGET names it.
	for _, r := range routes.Table(env, svc) {
		h := telemetry.Handler{Name: r.Name, Event: r.Kind == routes.EventTrigger, MaxBody: cfg.MaxBodyBytes, Admit: env.Authentic, Metrics: metrics}.Wrap(r.Handler)
		metrics.Handlers(r.Name)
		functions.HTTP(r.Name, drain.Wrap(h).ServeHTTP)
	}
	// Metrics stay up while requests drain, and stop only at exit.
	stopMetrics, err := metrics.Serve(tcfg.MetricsPort, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	functions.HTTP("healthz", server.Health(pool, drain).ServeHTTP)

	// The framework's routing, served with connection limits StartHostPort cannot set.
	srv, err := server.NewServer(":"+cfg.Port, server.Limits{ReadHeader: cfg.ReadHeaderTimeout, Read: cfg.ReadTimeout, Write: cfg.WriteTimeout, Idle: cfg.IdleTimeout})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Info("functions starting", "port", cfg.Port)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests in flight", "in_flight", drain.InFlight(), "timeout", cfg.ShutdownTimeout.String())
	wctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := drain.Wait(wctx, 200*time.Millisecond); err != nil {
		log.Warn("shutdown timed out with requests in flight", "in_flight", drain.InFlight())
	}
	log.Info("stopped")
	return nil
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
