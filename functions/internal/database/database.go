// Package database opens the pgx pool with the project's defaults (one plan per prepared
// statement among them), runs transactions that retry on serialization failures and
// deadlocks, and rewrites named arguments once per SQL text (Args).
package database

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultMaxConns is the pool's size when DATABASE_URL sets no pool_max_conns: as many
// connections as the requests one pod serves at once (containerConcurrency in
// deploy/base/functions.yaml, which a test keeps equal), so that no request waits for a
// connection inside the pod. Measured in docs/benchmarks.md (pool and server settings): at 32
// callers, 32 connections earned 1816 calls/s where 10 (the earlier default) earned 1395.
const DefaultMaxConns = 32

// MinMaxConns is the smallest pool Open makes: a smaller pool_max_conns is raised to it.
const MinMaxConns = 10

// Open returns a pool with the project's defaults. It does not wait for the database: the
// binary starts, and answers 503 from its health check, while the database is down.
//
// Statements run in pgx's default mode, QueryExecModeCacheStatement (each statement prepared
// once per connection): the fastest of the modes measured, and safe here because the
// functions talk to PostgreSQL directly, not through a transaction-pooling proxy.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := Config(url)
	if err != nil {
		return nil, err
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Config is the configuration Open makes a pool with, for a caller that changes a setting
// before making it (the pool benchmarks).
func Config(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConns < MinMaxConns {
		cfg.MaxConns = MinMaxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "loyalty-functions"
	// Every prepared statement runs on one plan per connection, made on its first call. The
	// actions find their rows by key (a member, an order, a receipt), so the plan does not
	// depend on the values; under PostgreSQL's default (auto) the larger statements, whose
	// plan for unknown values it costs higher, were planned again on every call: 180-300 us
	// each for the earn and redemption writes, the redemption's with the member locked
	// (docs/benchmarks.md). The crons' statements over ranges of time opt out (PlanByValues).
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	// A child span per statement, on the global tracer provider (non-recording until
	// telemetry installs an exporter). Parameters stay out: they hold member data. Acquires
	// are not traced: the health check's would be a root trace every few seconds.
	cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithDisableAcquireTracer())
	cfg.AfterConnect = sendUUIDArraysAsText
	return cfg, nil
}

// sendUUIDArraysAsText makes the connection send uuid[] parameters in text format. Lists of
// ids go as []string, which pgx encodes for uuid only as text; with uuid[]'s preferred
// format, binary, every such parameter first failed a binary attempt (building its error by
// reflection, on every earn and redemption), then went as text.
func sendUUIDArraysAsText(_ context.Context, conn *pgx.Conn) error {
	m := conn.TypeMap()
	t, ok := m.TypeForOID(pgtype.UUIDArrayOID)
	if !ok {
		return fmt.Errorf("pgx has no type for uuid[] (OID %d)", pgtype.UUIDArrayOID)
	}
	m.RegisterType(&pgtype.Type{Name: t.Name, OID: t.OID, Codec: textPreferred{t.Codec}})
	return nil
}

// textPreferred is codec with text as its preferred format.
type textPreferred struct{ pgtype.Codec }

func (textPreferred) PreferredFormat() int16 { return pgtype.TextFormatCode }

// PlanByValues makes the rest of tx plan its statements for the values they are given, as
// PostgreSQL does by default (plan_cache_mode auto), instead of on Open's one plan per
// connection: for statements over ranges (lots due by tonight, a year of ledger), whose best
// plan depends on how many rows the range holds. It adds no round trip when it is the
// transaction's first statement (BEGIN goes with it).
func PlanByValues(ctx context.Context, tx pgx.Tx) error {
	b := &pgx.Batch{}
	b.Queue("SET LOCAL plan_cache_mode = auto")
	return tx.SendBatch(ctx, b).Close()
}

// Attempts is how often InTx runs a transaction that keeps hitting serialization failures or
// deadlocks before it gives up with a Transient error.
const Attempts = 8

// InTx runs fn in a READ COMMITTED transaction and commits it. A serialization failure,
// deadlock or ErrRaced rolls back and runs fn again after a jittered pause; fn must therefore
// have no effects outside the transaction. Faults a later retry may cure come back as
// *Transient.
//
// The transaction's BEGIN goes with fn's first statement, and fn may send its last write
// with the COMMIT (CommitWith): a transaction of one batch of reads and one write is two
// round trips. Once CommitWith has committed, fn is not run again, whatever it returns.
func InTx(ctx context.Context, db Pool, fn func(pgx.Tx) error) error {
	var err error
	for n := 1; n <= Attempts; n++ {
		var committed bool
		committed, err = attempt(ctx, db, fn)
		if err == nil || committed || !retryable(err) {
			break
		}
		if n < Attempts {
			pause := time.Duration(n) * time.Duration(5+rand.IntN(20)) * time.Millisecond
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return &Transient{Err: ctx.Err()}
			}
		}
	}
	if err != nil && IsTransient(err) {
		return &Transient{Err: err}
	}
	return err
}

// Transient wraps a fault that a retry of the whole request may cure.
type Transient struct{ Err error }

func (t *Transient) Error() string   { return "transient database fault: " + t.Err.Error() }
func (t *Transient) Unwrap() error   { return t.Err }
func (t *Transient) Temporary() bool { return true }

// SQLSTATEs a retry of the transaction cures.
const (
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

// ErrRaced is what fn returns when a write finds that a concurrent transaction got there first
// (a unique key taken between fn's read and its write, where the read could not lock a row
// that did not exist yet). InTx then runs fn again, and its read sees the other's work.
var ErrRaced = errors.New("a concurrent transaction wrote first")

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, ErrRaced) ||
		errors.As(err, &pgErr) && (pgErr.Code == serializationFailure || pgErr.Code == deadlockDetected)
}

// IsTransient tells whether err is a fault of the database or the network, not of the request.
func IsTransient(err error) bool {
	var t *Transient
	if errors.As(err, &t) || retryable(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources (too many connections, disk full)
			"57": // operator intervention (shutdown, cannot connect now), query canceled
			return true
		}
		return pgErr.Code == "55P03" // lock_not_available
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)
}

// ConstraintName is the name of the constraint err violated, or "".
func ConstraintName(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	return ""
}
