package main

// These tests start the real binary, the way Knative starts it, and look at it only from
// outside: its exit code, its output, and HTTP. BenchmarkStartup measures the time from exec
// to the first 200 from GET /healthz with a reachable database.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// binary builds this package once per test process and returns the executable's path.
func binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "functions-bin")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "functions")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// settings are every variable config.Config reads; the tests start from an environment
// without any of them, so that what the developer's shell exports does not leak in.
var settings = []string{"PORT", "DATABASE_URL", "ACTION_SECRET", "ACTION_SECRET_PREVIOUS", "MEMBER_QR_SECRET", "MEMBER_QR_SECRET_PREVIOUS", "AWS_REGION",
	"COGNITO_USER_POOL_ID", "COGNITO_ENDPOINT", "S3_BUCKET", "S3_ENDPOINT", "MAX_BODY_BYTES",
	"SHUTDOWN_TIMEOUT", "LOG_LEVEL", "READ_HEADER_TIMEOUT", "READ_TIMEOUT", "WRITE_TIMEOUT", "IDLE_TIMEOUT", "FUNCTION_TARGET",
	"METRICS_PORT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"}

// testSecret is an ACTION_SECRET long enough for the binary (32 characters at least).
const testSecret = "startup-test-secret-0123456789abcdef"

func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, s := range settings {
			if name == s {
				keep = false
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	// Metrics off unless a test asks: binaries of parallel test runs would all want 9090.
	return append(append(env, "METRICS_PORT=0"), extra...)
}

func freePort(tb testing.TB) string {
	tb.Helper()
	return freePorts(tb, 1)[0]
}

// freePorts returns n distinct free ports. Every listener stays open until all
// are picked: closed one by one, the kernel may hand the same port out twice.
func freePorts(tb testing.TB, n int) []string {
	tb.Helper()
	ports := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports
}

// process is one running binary.
type process struct {
	cmd    *exec.Cmd
	output *syncBuffer
	exited chan struct{}
	base   string // http://127.0.0.1:<port>
}

func start(tb testing.TB, env []string, port string) *process {
	tb.Helper()
	p := &process{output: &syncBuffer{}, exited: make(chan struct{}), base: "http://127.0.0.1:" + port}
	p.cmd = exec.Command(binary(tb))
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	tb.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// waitHealthy polls GET /healthz until it answers want, the process exits, or a deadline.
func (p *process) waitHealthy(tb testing.TB, want int) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		last := "no answer"
		resp, err := client.Get(p.base + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			tb.Fatalf("binary exited before /healthz answered %d (%v):\n%s", want, p.cmd.ProcessState, p.output)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("/healthz did not answer %d within 20s (last: %s):\n%s", want, last, p.output)
		}
		time.Sleep(time.Millisecond)
	}
}

// stop sends SIGTERM, as Knative does, and returns the exit code.
func (p *process) stop(tb testing.TB) int {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		tb.Fatalf("binary did not exit within 30s of SIGTERM:\n%s", p.output)
	}
	return p.cmd.ProcessState.ExitCode()
}

func TestBinaryRefusesToStartWithoutRequiredSettings(t *testing.T) {
	cmd := exec.Command(binary(t))
	cmd.Env = cleanEnv("PORT=" + freePort(t))
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("binary kept running without DATABASE_URL and ACTION_SECRET")
	}
	if err == nil || cmd.ProcessState.ExitCode() == 0 {
		t.Fatalf("exit = %v, want a non-zero exit; output:\n%s", err, out)
	}
	for _, name := range []string{"DATABASE_URL", "ACTION_SECRET"} {
		if !bytes.Contains(out, []byte(name)) {
			t.Errorf("output does not name %s:\n%s", name, out)
		}
	}
}

func TestBinaryStartsWithOnlyTheTwoRequiredSettings(t *testing.T) {
	// PORT is set only so that the test does not collide with whatever holds 8080.
	port := freePort(t)
	p := start(t, cleanEnv("DATABASE_URL="+pgtest.URL(t), "ACTION_SECRET="+testSecret, "PORT="+port), port)
	p.waitHealthy(t, http.StatusOK)

	body := `{"action":{"name":"registerMember"},"input":{"input":{"displayName":"Aiko"}},` +
		`"session_variables":{"x-hasura-role":"member","x-hasura-user-id":"5e0c0b8a-0000-4000-8000-0000000000c1"}}`
	resp, err := client.Post(p.base+"/registerMember", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Message    *string `json:"message"`
		Extensions struct {
			Code any `json:"code"`
		} `json:"extensions"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("answer without the secret is not JSON: %v: %s", err, raw)
	}
	if resp.StatusCode != http.StatusUnauthorized || got.Message == nil || *got.Message == "" || got.Extensions.Code != "unauthorized" {
		t.Fatalf("without X-Action-Secret: %d %s, want 401 {message, extensions: {code: \"unauthorized\"}}", resp.StatusCode, raw)
	}

	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0:\n%s", code, p.output)
	}
}

func TestBinaryStartsWhileTheDatabaseIsDown(t *testing.T) {
	ports := freePorts(t, 2)
	port, nobody := ports[0], ports[1]
	p := start(t, cleanEnv("DATABASE_URL=postgres://postgres@127.0.0.1:"+nobody+"/loyalty?sslmode=disable&connect_timeout=1",
		"ACTION_SECRET="+testSecret, "PORT="+port), port)
	p.waitHealthy(t, http.StatusServiceUnavailable)
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0:\n%s", code, p.output)
	}
}

// TestTheBinaryLinksNoCodeThatSlowsItsStart guards the start-up budget (README, "Startup
// time"): gRPC, which otlptracehttp brings, runs html/template in golang.org/x/net/trace's
// init, and otelaws links the DynamoDB, SQS and SNS clients; together they made every start
// ~5 ms slower and the binary twice as large, with no exporter in use. And no type that is
// used as an interface may hold the whole Cognito client: methods called by reflection
// somewhere (protobuf with json-iterator) keep every exported method of such types.
func TestTheBinaryLinksNoCodeThatSlowsItsStart(t *testing.T) {
	bin := binary(t)
	mods, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, mods)
	}
	for _, m := range []string{"google.golang.org/grpc", "github.com/aws/aws-sdk-go-v2/service/dynamodb", "github.com/aws/aws-sdk-go-v2/service/sqs",
		"github.com/aws/aws-sdk-go-v2/service/sns", "go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-sdk-go-v2/otelaws"} {
		if strings.Contains(string(mods), "\t"+m+"\t") {
			t.Errorf("the binary links %s", m)
		}
	}
	syms, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	for _, sym := range []string{" golang.org/x/net/trace.", "cognitoidentityprovider.(*Client).AdminCreateUser"} {
		if bytes.Contains(syms, []byte(sym)) {
			t.Errorf("the binary holds %s", strings.TrimSpace(sym))
		}
	}
}

// BenchmarkStartup times exec to ready, per op; shutdown is not timed.
//
//   - healthy: to the first 200 from GET /healthz, database reachable. This includes opening
//     the first connection to PostgreSQL, which is what Knative's readiness probe waits for.
//   - listening: to the first HTTP answer of any kind (GET /nothing, 404), which needs no
//     database: the binary's own share of the start.
func BenchmarkStartup(b *testing.B) {
	binary(b)
	url := pgtest.URL(b)
	for _, bc := range []struct {
		name  string
		ready func(testing.TB, *process)
	}{
		{"healthy", func(tb testing.TB, p *process) { p.waitHealthy(tb, http.StatusOK) }},
		{"listening", func(tb testing.TB, p *process) { p.waitAnswer(tb) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				ports := freePorts(b, 2)
				port := ports[0]
				// As deployed: metrics served, no OTEL_* variable (so no exporter).
				env := cleanEnv("DATABASE_URL="+url, "ACTION_SECRET="+testSecret, "PORT="+port, "METRICS_PORT="+ports[1])
				b.StartTimer()
				p := start(b, env, port)
				bc.ready(b, p)
				b.StopTimer()
				if code := p.stop(b); code != 0 {
					b.Fatalf("exit code after SIGTERM = %d:\n%s", code, p.output)
				}
				b.StartTimer()
			}
		})
	}
}

// waitAnswer polls until the binary answers any HTTP request.
func (p *process) waitAnswer(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(p.base + "/nothing")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no HTTP answer within 20s (%v):\n%s", err, p.output)
		}
		time.Sleep(time.Millisecond)
	}
}

// syncBuffer collects a process's output; written by exec's copier goroutines, read by tests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
