// Package cognitotest runs cognito-local (the npm package, pinned in tools/cognito-local) for
// tests: a real local Cognito on a free port, with its data in a temporary folder, stopped and
// removed when the tests end. It never skips: without cognito-local the tests fail, saying how
// to install it.
//
// One per test binary, from TestMain:
//
//	var local *cognitotest.Local
//
//	func TestMain(m *testing.M) { os.Exit(cognitotest.Main(m, &local)) }
//
// or one per test: cognitotest.Start(t). StartWith and NewWith take Options, to have
// cognito-local call a Lambda trigger served by the test (see Lambda).
package cognitotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/google/uuid"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/cognito"
)

// Region is the region the clients name; cognito-local accepts any.
const Region = "eu-west-1"

// toolDir is where the pinned cognito-local is installed, relative to the module root.
const toolDir = "tools/cognito-local"

// Local is a running cognito-local.
type Local struct {
	Endpoint string // http://127.0.0.1:<port>
	client   *cip.Client
	cmd      *exec.Cmd
	dir      string
	exited   chan struct{}
}

// Main starts cognito-local, stores it in *l, runs the tests and stops it. It returns the
// exit code for os.Exit: 1, with the reason on stderr, when cognito-local cannot start.
func Main(m *testing.M, l **Local) int {
	local, err := New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cognitotest:", err)
		return 1
	}
	*l = local
	code := m.Run()
	local.Stop()
	return code
}

// Start starts a cognito-local for one test; it is stopped when the test ends.
func Start(t testing.TB) *Local { t.Helper(); return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Local {
	t.Helper()
	l, err := NewWith(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	return l
}

// Bin is the cognito-local executable: $COGNITO_LOCAL_BIN, else
// tools/cognito-local/node_modules/.bin/cognito-local under the module root (the folder of
// go.mod, found walking up from the working directory, which go test sets to the package's).
// Its error says how to install it.
func Bin() (string, error) {
	bin := os.Getenv("COGNITO_LOCAL_BIN")
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		bin = filepath.Join(root, toolDir, "node_modules", ".bin", "cognito-local")
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("cognito-local is not installed (%s is missing): install Node.js 20 and npm, then run "+
			"`npm ci --prefix %s` (bash .ci/run does it); the tests of Cognito account deletion need it", bin, toolDir)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", errors.New("cognito-local needs Node.js (node on PATH): install Node.js 20; the tests of Cognito account deletion need it")
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cognitotest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Options changes how cognito-local starts. The zero value is a cognito-local without
// triggers.
type Options struct {
	// Lambda is where cognito-local invokes its triggers (cognito-local reads its triggers at
	// start only, hence an option and not a method).
	Lambda *Lambda
	// PreTokenGeneration names the function of Lambda that cognito-local invokes before it
	// issues tokens (on InitiateAuth and refresh).
	PreTokenGeneration string
}

// config is cognito-local's .cognito/config.json for o.
func (o Options) config() ([]byte, error) {
	// Pools whose usernames are not e-mails (cognito-local's default makes them e-mails and
	// the username the sub): the tests then show that users are found by sub, not username.
	c := map[string]any{"UserPoolDefaults": map[string]any{"UsernameAttributes": []string{}}}
	if o.PreTokenGeneration != "" {
		if o.Lambda == nil {
			return nil, errors.New("cognitotest: a PreTokenGeneration trigger needs a Lambda to call")
		}
		c["LambdaClient"] = map[string]any{
			"endpoint":    o.Lambda.URL,
			"region":      Region,
			"credentials": map[string]string{"accessKeyId": "local", "secretAccessKey": "local"},
		}
		c["TriggerFunctions"] = map[string]string{"PreTokenGeneration": o.PreTokenGeneration}
	}
	return json.Marshal(c)
}

// New starts cognito-local on a free port, in a temporary working directory (it keeps its
// data in ./.cognito), and waits until it answers.
func New() (*Local, error) { return NewWith(Options{}) }

// NewWith is New with options.
func NewWith(o Options) (*Local, error) {
	config, err := o.config()
	if err != nil {
		return nil, err
	}
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cognito-local-")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, ".cognito"), 0o755); err == nil {
		err = os.WriteFile(filepath.Join(dir, ".cognito", "config.json"), config, 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "cognito-local.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "HOST=127.0.0.1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, killed whole; and killed with us should the test binary die
	// before Stop (a test timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start cognito-local (%s): %w", bin, err)
	}
	l := &Local{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(l.exited) }()
	if err := l.waitReady(30 * time.Second); err != nil {
		log, _ := os.ReadFile(logFile.Name())
		l.Stop()
		return nil, fmt.Errorf("cognito-local did not start: %w\n%s", err, log)
	}
	l.client, err = cognito.NewClient(context.Background(), l.Config(""))
	if err != nil {
		l.Stop()
		return nil, err
	}
	return l, nil
}

func (l *Local) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(l.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /health answered %s", resp.Status)
		}
		select {
		case <-l.exited:
			return fmt.Errorf("it exited (%v)", l.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer in %s: %w", timeout, err)
		}
	}
}

// Stop kills cognito-local and removes its data.
func (l *Local) Stop() {
	if l.cmd.Process != nil {
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
		<-l.exited
	}
	_ = os.RemoveAll(l.dir)
}

// Config is the adapter's configuration for pool on this cognito-local.
func (l *Local) Config(pool string) cognito.Config {
	return cognito.Config{Region: Region, UserPoolID: pool, Endpoint: l.Endpoint}
}

// Directory is the adapter on pool, built as the binary builds it.
func (l *Local) Directory(t testing.TB, pool string) *cognito.Directory {
	t.Helper()
	d, err := cognito.New(context.Background(), l.Config(pool))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Client is an admin client of this cognito-local, for fixtures and checks.
func (l *Local) Client() *cip.Client { return l.client }

// NewPool creates a user pool and returns its id.
func (l *Local) NewPool(t testing.TB) string {
	t.Helper()
	out, err := l.client.CreateUserPool(context.Background(), &cip.CreateUserPoolInput{PoolName: aws.String("test-" + uuid.NewString()[:8])})
	if err != nil {
		t.Fatalf("create a user pool: %v", err)
	}
	return aws.ToString(out.UserPool.Id)
}

// NewUser creates a user named username in pool and returns its sub, the id the member row
// of that user has. The username is not the sub, as with Cognito's e-mail sign-in.
func (l *Local) NewUser(t testing.TB, pool, username string) (sub string) {
	t.Helper()
	out, err := l.client.AdminCreateUser(context.Background(), &cip.AdminCreateUserInput{
		UserPoolId: aws.String(pool), Username: aws.String(username), MessageAction: types.MessageActionTypeSuppress,
		UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(username + "@example.com")}},
	})
	if err != nil {
		t.Fatalf("create user %s: %v", username, err)
	}
	for _, a := range out.User.Attributes {
		if aws.ToString(a.Name) == "sub" {
			sub = aws.ToString(a.Value)
		}
	}
	if sub == "" || sub == username {
		t.Fatalf("user %s has sub %q; want a uuid of its own", username, sub)
	}
	return sub
}

// HasUser tells whether pool holds a user named username.
func (l *Local) HasUser(t testing.TB, pool, username string) bool {
	t.Helper()
	_, err := l.client.AdminGetUser(context.Background(), &cip.AdminGetUserInput{UserPoolId: aws.String(pool), Username: aws.String(username)})
	var notFound *types.UserNotFoundException
	switch {
	case err == nil:
		return true
	case errors.As(err, &notFound):
		return false
	}
	t.Fatalf("look up user %s: %v", username, err)
	return false
}

// UserCount is the number of users in pool.
func (l *Local) UserCount(t testing.TB, pool string) int {
	t.Helper()
	out, err := l.client.ListUsers(context.Background(), &cip.ListUsersInput{UserPoolId: aws.String(pool)})
	if err != nil {
		t.Fatalf("list users: %v", err)
	}
	return len(out.Users)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
