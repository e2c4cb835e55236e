package hasura_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
)

// Hasura sends X-Action-Secret once. With two, which one counts would depend on what reads the
// headers (a proxy may check the last, Go reads the first): refuse both orders.
func TestTwoSecretHeadersAreRefusedEvenIfOneIsRight(t *testing.T) {
	for _, k := range kinds {
		for _, pair := range [][2]string{{hasuratest.Secret, "wrong"}, {"wrong", hasuratest.Secret}, {hasuratest.Secret, hasuratest.Secret}} {
			t.Run(fmt.Sprintf("%s: %q then %q", k.name, label(pair[0]), label(pair[1])), func(t *testing.T) {
				calls := 0
				req := k.request(t)
				req.Header.Set(hasura.SecretHeader, pair[0])
				req.Header.Add(hasura.SecretHeader, pair[1])
				rec := hasuratest.Do(t, k.serve(newEnv(nil), ok("x"), &calls), req)
				checkErrorShape(t, rec, http.StatusUnauthorized)
				if calls != 0 {
					t.Fatalf("the handler ran %d times", calls)
				}
			})
		}
	}
	rec := hasuratest.Do(t, newEnv(nil).NotImplemented("later"), func() *http.Request {
		req := kinds[0].request(t)
		req.Header.Add(hasura.SecretHeader, hasuratest.Secret)
		return req
	}())
	checkErrorShape(t, rec, http.StatusUnauthorized)
}

// Which of X-Hasura-Role and x-hasura-role would win depends on map order: refuse the request.
func TestSessionVariablesWithOneKeyInTwoCasesAreRefused(t *testing.T) {
	action := parseDoc(t, actionJSON).with(t, "session_variables", `{"x-hasura-role":"member","X-Hasura-Role":"admin","x-hasura-user-id":"s-1"}`)
	rec, s := serveAction[earnArgs](t, newEnv(nil), action.bytes(t))
	refused(t, rec, s.calls(), "session_variables")
	if !strings.Contains(checkErrorShape(t, rec, http.StatusBadRequest).Message, "x-hasura-role") {
		t.Errorf("the message does not name the key")
	}

	event := parseDoc(t, eventJSON).with(t, "event.session_variables", `{"x-hasura-user-id":"a","X-HASURA-USER-ID":"b","x-hasura-role":"staff"}`)
	rec, es := serveEvent[orderRow](t, newEnv(nil), event.bytes(t))
	refused(t, rec, es.calls(), "session_variables")

	// One key in one case stays fine, whatever the case.
	rec, s = serveAction[earnArgs](t, newEnv(nil), parseDoc(t, actionJSON).with(t, "session_variables", `{"X-Hasura-Role":"staff"}`).bytes(t))
	if rec.Code != http.StatusOK || s.only(t).Session.Role() != "staff" {
		t.Fatalf("status %d for a single mixed-case key", rec.Code)
	}
}

// A refused caller announces a 100 KB body and never sends it. Without Connection: close,
// net/http reads that body before writing the 401 (to keep the connection), so the answer
// waits as long as the caller likes; with it, the answer comes at once and the connection ends.
func TestA401Or413ClosesTheConnectionWithoutWaitingForTheBody(t *testing.T) {
	env := newEnv(nil)
	env.MaxBody = 1024
	h := kinds[0].serve(env, ok("x"), new(int))
	srv := httptest.NewServer(h) // a real server on loopback, with no limits of its own
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		name   string
		header string
		status int
	}{
		{"no secret", "", http.StatusUnauthorized},
		{"a body above the limit", hasura.SecretHeader + ": " + hasuratest.Secret + "\r\n", http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, _ = io.WriteString(conn, "POST /earnPoints HTTP/1.1\r\nHost: functions\r\nContent-Type: application/json\r\n"+c.header+"Content-Length: 102400\r\n\r\n")
			if c.status == http.StatusRequestEntityTooLarge {
				_, _ = conn.Write(bytes.Repeat([]byte(" "), 2048)) // past the limit, then nothing
			}
			_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer within 3 s while the body is unsent: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != c.status || !resp.Close {
				t.Fatalf("got %d with Connection %q; want %d and close", resp.StatusCode, resp.Header.Get("Connection"), c.status)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the answer: %v, want the connection closed", err)
			}
		})
	}
}

// logLines runs req through a handler and returns the JSON lines it logged.
func logLines(t *testing.T, k kind, res result, req *http.Request) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	env := newEnv(&failureLog{})
	env.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	hasuratest.Do(t, k.serve(env, res, new(int)), req)
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// A disputed credit must lead to a person: every line a request logs names the caller.
func TestEveryLogLineOfARequestNamesTheCaller(t *testing.T) {
	outcomes := map[string]result{
		"handled": ok("x"),
		"refused": fails(&hasura.Error{Status: 404, Code: "not_found", Message: "no such member"}),
		"failed":  fails(errBoom),
	}
	for name, res := range outcomes {
		for _, k := range kinds[:2] { // a cron has no caller
			t.Run(k.name+" "+name, func(t *testing.T) {
				req := k.request(t)
				if k.trigger {
					req = hasuratest.EventRequest(t, "order_paid", "orders", hasura.OpInsert, nil, orderJSON,
						hasuratest.WithID(eventID), hasuratest.WithSessionVariables(hasuratest.Session("staff", "s-1")))
				}
				lines := logLines(t, k, res, req)
				if len(lines) == 0 {
					t.Fatal("nothing logged")
				}
				for _, l := range lines {
					if l["user_id"] != "s-1" {
						t.Errorf("line %v lacks user_id s-1", l)
					}
				}
			})
		}
	}
}

// What the caller is told may hold a live coupon code; the log line says LogMessage.
func TestARefusalIsLoggedWithItsLogMessage(t *testing.T) {
	err := &hasura.Error{Status: 409, Code: "coupon_used", Message: "coupon K7QX2MPA was used", LogMessage: "coupon K7Q… was used"}
	var buf bytes.Buffer
	env := newEnv(nil)
	env.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	rec := hasuratest.Do(t, kinds[0].serve(env, fails(err), new(int)), kinds[0].request(t))
	if body := checkErrorShape(t, rec, http.StatusConflict); body.Message != err.Message {
		t.Errorf("the answer says %q, want the whole message", body.Message)
	}
	if strings.Contains(buf.String(), "K7QX2MPA") || !strings.Contains(buf.String(), "K7Q…") {
		t.Errorf("the log holds the whole code or not the prefix:\n%s", buf.String())
	}
}
