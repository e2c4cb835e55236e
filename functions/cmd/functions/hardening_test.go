package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

func TestBinaryRefusesAnActionSecretShorterThan32Characters(t *testing.T) {
	for _, env := range [][]string{
		{"ACTION_SECRET=" + testSecret[:31]},
		{"ACTION_SECRET=" + testSecret, "ACTION_SECRET_PREVIOUS=" + testSecret[:31]},
	} {
		p := start(t, cleanEnv(append(env, "DATABASE_URL="+pgtest.URL(t), "PORT="+freePort(t))...), "0")
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			t.Fatalf("%v: the binary kept running", env)
		}
		if p.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(p.output.String(), "at least 32 characters") {
			t.Fatalf("%v: exit %d, output:\n%s", env, p.cmd.ProcessState.ExitCode(), p.output)
		}
	}
}

// The limits come from the environment: READ_HEADER_TIMEOUT of 300 ms drops a client that
// sends its headers a line at a time (functions/internal/server tests every limit).
func TestBinaryDropsSlowClientsAtTheConfiguredLimits(t *testing.T) {
	port := freePort(t)
	p := start(t, cleanEnv("DATABASE_URL="+pgtest.URL(t), "ACTION_SECRET="+testSecret, "PORT="+port,
		"READ_HEADER_TIMEOUT=300ms"), port)
	p.waitHealthy(t, http.StatusOK)

	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		_, _ = io.WriteString(c, "POST /earnPoints HTTP/1.1\r\nHost: functions\r\n")
		for {
			time.Sleep(100 * time.Millisecond)
			if _, err := io.WriteString(c, "X-Pad: 1\r\n"); err != nil {
				return
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the binary kept a client sending headers a line at a time for 5 s")
		}
		if err != nil {
			break
		}
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d:\n%s", code, p.output)
	}
}

// FUNCTION_TARGET still serves the one function it names, at /, as functions-framework does.
func TestBinaryServesOnlyTheFunctionTargetAtTheRoot(t *testing.T) {
	port := freePort(t)
	p := start(t, cleanEnv("DATABASE_URL="+pgtest.URL(t), "ACTION_SECRET="+testSecret, "PORT="+port, "FUNCTION_TARGET=healthz"), port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(p.base + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(b)) == `{"status":"ok"}` {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET / did not answer as /healthz within 20 s (%v):\n%s", err, p.output)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d:\n%s", code, p.output)
	}
}
