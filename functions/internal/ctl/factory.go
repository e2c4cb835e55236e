package ctl

import (
	"context"
	"net/http"
	"os"
	"os/user"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
)

// Factory holds what commands depend on, so tests can give their own.
type Factory struct {
	IO     *IOStreams
	Getenv func(string) string
	// DB opens the database at DATABASE_URL; the command closes it.
	DB         func(ctx context.Context) (*pgxpool.Pool, error)
	HTTPClient *http.Client
	Now        func() time.Time
	OSUser     func() string
	// TracerProvider traces the run and its AWS calls instead of the one the OTEL_*
	// variables configure (tests); nil in the real process.
	TracerProvider trace.TracerProvider
}

// NewFactory is the factory of the real process.
func NewFactory(io *IOStreams) *Factory {
	f := &Factory{IO: io, Getenv: os.Getenv, HTTPClient: &http.Client{Timeout: 5 * time.Minute}, Now: time.Now}
	f.DB = func(ctx context.Context) (*pgxpool.Pool, error) { return openDB(ctx, f.Getenv) }
	f.OSUser = func() string {
		if u, err := user.Current(); err == nil {
			return u.Username
		}
		return f.Getenv("USER")
	}
	return f
}

func openDB(ctx context.Context, getenv func(string) string) (*pgxpool.Pool, error) {
	url := getenv("DATABASE_URL")
	if url == "" {
		return nil, &Error{Code: "config", Message: "DATABASE_URL is not set"}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &Error{Code: "config", Message: "DATABASE_URL: " + err.Error()}
	}
	cfg.MaxConns = 4
	return pgxpool.NewWithConfig(ctx, cfg)
}
