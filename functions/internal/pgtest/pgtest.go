// Package pgtest gives tests a real PostgreSQL: one throwaway cluster per test binary (or the
// server at TEST_DATABASE_URL), a template database migrated and seeded once, and a fresh
// database copied from it for every test. PGTEST_SERVER_SETTINGS adds settings to the
// cluster's (for example "shared_buffers=4GB"). PGTEST_DATA_DIR keeps the cluster in that
// directory across runs instead of a temporary one, for databases a benchmark keeps (Kept).
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/migrate"
	"github.com/kaiser-kitchen/loyalty-point-backend/hasura"
)

// server is the PostgreSQL every test of this binary uses.
var server struct {
	adminURL string // a connection string to the maintenance database
	lasting  bool   // the server outlives this process (TEST_DATABASE_URL or PGTEST_DATA_DIR)
	template string // name of the migrated and seeded template database
	prefix   string // database names of this process start with it
	counter  atomic.Int64
}

// Main starts PostgreSQL, prepares the template, runs the tests and stops PostgreSQL.
func Main(m *testing.M) int {
	stop, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	code := m.Run()
	stop()
	return code
}

func start() (stop func(), err error) {
	server.prefix = fmt.Sprintf("pgtest_%d", os.Getpid())
	server.template = server.prefix + "_template"
	stopCluster := func() {}
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		server.adminURL, server.lasting = u, true
	} else {
		c, err := startCluster()
		if err != nil {
			return nil, err
		}
		server.adminURL, server.lasting = c.url, c.kept
		stopCluster = c.stop
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := createTemplate(ctx); err != nil {
		stopCluster()
		return nil, err
	}
	return func() {
		_ = dropDatabase(context.Background(), server.template)
		stopCluster()
	}, nil
}

func createTemplate(ctx context.Context) error {
	if err := adminExec(ctx, fmt.Sprintf(`CREATE DATABASE %q`, server.template)); err != nil {
		return fmt.Errorf("create template database: %w", err)
	}
	conn, err := pgx.Connect(ctx, withDatabase(server.adminURL, server.template))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	migrations, err := migrate.Load(hasura.Migrations())
	if err != nil {
		return err
	}
	if _, err := migrate.Up(ctx, conn, migrations); err != nil {
		return err
	}
	return migrate.Seed(ctx, conn, hasura.Seeds())
}

// URL creates a fresh database copied from the migrated and seeded template and returns its
// connection string; the database is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, server.template)
}

// EmptyURL creates a database with nothing in it, for tests of migrations themselves.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, "template0")
}

// Pool opens a pool on a fresh database copied from the template, configured as the binary's
// (database.Config: plans, time zone) but with room for tests' concurrent callers; it is
// closed and the database dropped when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return TracedPool(t, URL(t), nil)
}

// TracedPool is Pool on the database at url (from URL), its statements traced by tracer (nil:
// none): for tests that count or step between what a pool sends.
func TracedPool(t testing.TB, url string, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	cfg, err := database.Config(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Kept returns the connection string of the database name, copied from the template when it
// does not exist yet (created reports that), and never dropped: for a benchmark that seeds a
// database once and measures it on later runs. It fails the test unless the server outlives
// this process (TEST_DATABASE_URL, or a cluster kept in PGTEST_DATA_DIR).
func Kept(t testing.TB, name string) (u string, created bool) {
	t.Helper()
	if !server.lasting {
		t.Fatalf("pgtest: keeping database %s needs a server that outlives the run: set PGTEST_DATA_DIR or TEST_DATABASE_URL", name)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server.adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %q TEMPLATE %q`, name, server.template)); err != nil {
			t.Fatalf("pgtest: create database %s: %v", name, err)
		}
	}
	return withDatabase(server.adminURL, name), !exists
}

func newDatabase(t testing.TB, template string) string {
	t.Helper()
	name := fmt.Sprintf("%s_%d", server.prefix, server.counter.Add(1))
	ctx := context.Background()
	if err := adminExec(ctx, fmt.Sprintf(`CREATE DATABASE %q TEMPLATE %q`, name, template)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	// Registered before the caller's pool cleanup, so it runs after the pool is closed.
	t.Cleanup(func() {
		if err := dropDatabase(ctx, name); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(server.adminURL, name)
}

func dropDatabase(ctx context.Context, name string) error {
	return adminExec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name))
}

func adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, server.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns the connection string u pointing at database name.
func withDatabase(u, name string) string {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		panic(err) // u was parsed successfully before
	}
	q := url.Values{}
	q.Set("host", cfg.Host)
	q.Set("port", strconv.Itoa(int(cfg.Port)))
	q.Set("user", cfg.User)
	if cfg.Password != "" {
		q.Set("password", cfg.Password)
	}
	q.Set("sslmode", sslMode(u))
	return (&url.URL{Scheme: "postgres", Path: "/" + name, RawQuery: q.Encode()}).String()
}

func sslMode(u string) string {
	if parsed, err := url.Parse(u); err == nil {
		if m := parsed.Query().Get("sslmode"); m != "" {
			return m
		}
	}
	return "disable"
}

// cluster is a PostgreSQL server in a temporary directory (or PGTEST_DATA_DIR, kept),
// listening on a Unix socket only.
type cluster struct {
	url  string
	kept bool
	stop func()
}

func startCluster() (*cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir := os.Getenv("PGTEST_DATA_DIR")
	kept := dir != ""
	if !kept {
		if dir, err = os.MkdirTemp("", "pgtest"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// removeAll is what stopping leaves behind: nothing, unless the cluster is kept.
	removeAll := func() {
		if !kept {
			os.RemoveAll(dir)
		}
	}
	cred, err := dropRoot(dir)
	if err != nil {
		removeAll()
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil { // a kept cluster is made once
		initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := initdb.CombinedOutput(); err != nil {
			removeAll()
			return nil, fmt.Errorf("initdb: %v\n%s", err, out)
		}
	}
	// Durability is pointless for a test cluster, kept or not; speed is not.
	args := []string{"-D", data, "-k", dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=400", "-c", "shared_buffers=128MB",
		"-c", "timezone=UTC"}
	// PGTEST_SERVER_SETTINGS: more name=value settings, separated by spaces, after (so over)
	// these; the scale benchmark gives the server the memory of a production instance.
	for _, setting := range strings.Fields(os.Getenv("PGTEST_SERVER_SETTINGS")) {
		args = append(args, "-c", setting)
	}
	postgres := exec.Command(filepath.Join(bin, "postgres"), args...)
	postgres.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		removeAll()
		return nil, err
	}
	postgres.Stdout, postgres.Stderr = logFile, logFile
	if err := postgres.Start(); err != nil {
		removeAll()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = postgres.Wait(); close(exited) }()
	stop := func() {
		_ = postgres.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = postgres.Process.Kill()
			<-exited
		}
		logFile.Close()
		removeAll()
	}
	u := (&url.URL{Scheme: "postgres", Path: "/postgres",
		RawQuery: url.Values{"host": {dir}, "user": {"postgres"}, "sslmode": {"disable"}}.Encode()}).String()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, u)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			stop()
			return nil, fmt.Errorf("postgres exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("postgres did not accept connections: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &cluster{url: u, kept: kept, stop: stop}, nil
}

// dropRoot returns the credential to run PostgreSQL with: the postgres user when running as
// root (initdb refuses root), nil otherwise. dir is handed to that user.
func dropRoot(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// BinDir finds PostgreSQL's server binaries: $PG_BIN, then the newest
// /usr/lib/postgresql/<major>/bin, then the directory of initdb on $PATH.
func BinDir() (string, error) {
	if dir := os.Getenv("PG_BIN"); dir != "" {
		return dir, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestMajor := "", -1
	for _, m := range matches {
		major, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m))))
		if err == nil && major > bestMajor {
			best, bestMajor = filepath.Dir(m), major
		}
	}
	if best != "" {
		return best, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("PostgreSQL server binaries not found: install postgresql, set PG_BIN, or set TEST_DATABASE_URL")
}
