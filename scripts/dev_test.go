package scripts

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// make dev under a process manager: SIGTERM to make alone (not to its process group, as
// systemd's KillMode=process, a supervisor or a terminal's close does) stops the functions
// binary and the PostgreSQL that make dev started, before make exits.
func TestSIGTERMToMakeDevLeavesNoPostgreSQLRunning(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed")
	}
	// A data folder the postgres user can reach when the tests run as root: t.TempDir's
	// parents are closed to other users.
	base, err := os.MkdirTemp("", "make-dev-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	pgDir := filepath.Join(base, "postgres")
	port, pgPort, metricsPort := freePort(t), freePort(t), freePort(t) // free ports: a make dev of one's own may be running

	var log bytes.Buffer
	cmd := exec.Command("make", "-s", "dev")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "PORT="+port, "METRICS_PORT="+metricsPort, "DEV_PG_PORT="+pgPort, "DEV_PG_DIR="+pgDir, "DATABASE_URL=")
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group: the signal goes to make only
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { // whatever happens, nothing stays running
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if _, err := os.Stat(filepath.Join(pgDir, "postmaster.pid")); err == nil {
			stopPostgres(pgDir)
		}
	})

	healthy := false
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline) && !healthy; time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("make dev exited before it was up (%v):\n%s", err, log.String())
		default:
		}
		res, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err == nil {
			res.Body.Close()
			healthy = res.StatusCode == http.StatusOK
		}
	}
	if !healthy {
		t.Fatalf("make dev did not answer /healthz 200 within 3 minutes:\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join(pgDir, "postmaster.pid")); err != nil {
		t.Fatalf("make dev is up but its PostgreSQL is not running in %s: %v", pgDir, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("make dev still runs a minute after SIGTERM:\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join(pgDir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PostgreSQL still runs in %s after make exited (postmaster.pid: %v):\n%s", pgDir, err, log.String())
	}
	for _, p := range []string{port, pgPort} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, time.Second); err == nil {
			c.Close()
			t.Errorf("something still listens on port %s after make exited", p)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// stopPostgres stops a cluster left running, with the pg_ctl make dev would use.
func stopPostgres(dir string) {
	pgCtl := "pg_ctl"
	if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl"); len(found) > 0 {
		pgCtl = found[len(found)-1]
	}
	args := []string{pgCtl, "-D", dir, "-m", "immediate", "-w", "stop"}
	if os.Geteuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	_ = exec.Command(args[0], args[1:]...).Run()
}
