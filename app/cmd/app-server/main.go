// Command app-server serves the public web site of app/ (the guide, the invite page and the
// /.well-known files) on PORT, with the environment's app ids from the deploy overlay
// (deploy/<env>/app.env). It is the app image's only process.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/kaiser-kitchen/loyalty-point-backend/app"
)

type settings struct {
	Port string `envconfig:"PORT" default:"8080"`
	// SiteDir serves the files from a folder instead of the built-in copy, for editing the
	// site locally without rebuilding.
	SiteDir         string        `envconfig:"SITE_DIR"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"10s"`
}

func main() {
	if err := run(); err != nil {
		slog.Error("app-server stopped", "error", err.Error())
		os.Exit(1)
	}
}

func run() error {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stdout, nil)))
	var s settings
	if err := envconfig.Process("", &s); err != nil {
		return err
	}
	var cfg app.Config
	if err := envconfig.Process("", &cfg); err != nil {
		return err
	}
	var site fs.FS = app.Site()
	if s.SiteDir != "" {
		site = os.DirFS(s.SiteDir)
	}
	h, err := app.Handler(site, cfg)
	if err != nil {
		return fmt.Errorf("app config: %w", err)
	}
	srv := &http.Server{Addr: ":" + s.Port, Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("app-server listening", "port", s.Port)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Kubernetes sends SIGTERM and stops routing to the pod: finish what is in flight.
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
