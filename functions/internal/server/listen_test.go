package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
)

// The functions framework keeps one registry per process: each function is registered once.
var (
	echoed  = make(chan string, 16)
	bodies  = make(chan error, 16)
	written = make(chan error, 16)
)

func init() {
	functions.HTTP("echo_a", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "a") })
	functions.HTTP("echo_b", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "b") })
	functions.HTTP("read_body", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		bodies <- err
	})
	// write_forever writes until the connection refuses, and reports how that ended.
	functions.HTTP("write_forever", func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1<<20)
		for {
			if _, err := w.Write(chunk); err != nil {
				written <- err
				return
			}
		}
	})
}

// serve starts NewServer(limits) on a loopback port and returns its address.
func serve(t *testing.T, l Limits) string {
	t.Helper()
	srv, err := NewServer("127.0.0.1:0", l)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// long is a limit no test reaches, for the limits a test is not about.
const long = time.Minute

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads c until the server closes it, and fails the test if that takes longer
// than within.
func closedWithin(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		var ne net.Error
		switch {
		case err == nil:
			continue
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("the server kept the connection open for %s", within)
		}
		return time.Since(start)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(b)
}

func TestServerRoutesLikeTheFunctionsFramework(t *testing.T) {
	limits := Limits{ReadHeader: long, Read: long, Write: long, Idle: long}
	t.Run("every function at /<name>", func(t *testing.T) {
		t.Setenv("FUNCTION_TARGET", "")
		os.Unsetenv("FUNCTION_TARGET")
		base := "http://" + serve(t, limits)
		for path, want := range map[string]string{"/echo_a": "200 OK a", "/echo_b": "200 OK b", "/echo_a/more": "404 Not Found"} {
			if got := get(t, base+path); !strings.HasPrefix(got, want) {
				t.Errorf("GET %s = %q, want %q", path, got, want)
			}
		}
	})
	t.Run("only FUNCTION_TARGET, at /", func(t *testing.T) {
		t.Setenv("FUNCTION_TARGET", "echo_b")
		base := "http://" + serve(t, limits)
		for _, path := range []string{"/", "/echo_a"} {
			if got := get(t, base+path); got != "200 OK b" {
				t.Errorf("GET %s = %q, want echo_b's answer", path, got)
			}
		}
	})
}

func TestServerRefusesLimitsThatMeanNoLimit(t *testing.T) {
	if _, err := NewServer(":0", Limits{ReadHeader: time.Second, Read: time.Second, Write: time.Second}); err == nil {
		t.Fatal("an Idle limit of 0 was accepted")
	}
}

func TestServerDropsAClientThatSendsItsHeadersTooSlowly(t *testing.T) {
	addr := serve(t, Limits{ReadHeader: 200 * time.Millisecond, Read: long, Write: long, Idle: long})
	c := dial(t, addr)
	// One header line every 100 ms, never the blank line that ends them.
	go func() {
		_, _ = io.WriteString(c, "POST /echo_a HTTP/1.1\r\nHost: functions\r\n")
		for i := 0; ; i++ {
			time.Sleep(100 * time.Millisecond)
			if _, err := io.WriteString(c, "X-Pad: 1\r\n"); err != nil {
				return
			}
		}
	}()
	if took := closedWithin(t, c, 3*time.Second); took < 150*time.Millisecond {
		t.Fatalf("closed after %s, before the header limit", took)
	}
}

func TestServerDropsAClientThatSendsItsBodyTooSlowly(t *testing.T) {
	addr := serve(t, Limits{ReadHeader: long, Read: 400 * time.Millisecond, Write: long, Idle: long})
	c := dial(t, addr)
	// A 100 KB body announced, then sent a byte every 50 ms.
	_, _ = io.WriteString(c, "POST /read_body HTTP/1.1\r\nHost: functions\r\nContent-Length: 102400\r\n\r\n")
	go func() {
		for {
			time.Sleep(50 * time.Millisecond)
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-bodies:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("reading the body ended with %v, want a timeout", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the handler was still reading the body after 3 s")
	}
	closedWithin(t, c, 3*time.Second)
}

func TestServerClosesAnIdleKeptAliveConnection(t *testing.T) {
	addr := serve(t, Limits{ReadHeader: long, Read: long, Write: long, Idle: 200 * time.Millisecond})
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /echo_a HTTP/1.1\r\nHost: functions\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server did not keep the connection alive; the idle limit is not what is tested")
	}
	closedWithin(t, c, 3*time.Second)
}

func TestServerGivesUpOnAClientThatDoesNotReadItsAnswer(t *testing.T) {
	addr := serve(t, Limits{ReadHeader: long, Read: long, Write: 300 * time.Millisecond, Idle: long})
	c := dial(t, addr)
	// The request, and then nothing read: the answer fills the socket buffers and stops.
	_, _ = io.WriteString(c, "GET /write_forever HTTP/1.1\r\nHost: functions\r\n\r\n")
	select {
	case err := <-written:
		if err == nil {
			t.Fatal("write_forever stopped without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler was still writing to a client that reads nothing after 5 s")
	}
}
