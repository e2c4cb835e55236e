package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

// TestBinaryAcceptsOldAndNewActionSecretDuringARotation runs the rotation of
// docs/operations.md on the real binary: with ACTION_SECRET=new and ACTION_SECRET_PREVIOUS=old
// both secrets get in; restarted without the previous one, only the new one does.
func TestBinaryAcceptsOldAndNewActionSecretDuringARotation(t *testing.T) {
	const oldSecret, newSecret = "rotation-old-secret-0123456789abcdef", "rotation-new-secret-0123456789abcdef"
	db := pgtest.URL(t)
	call := func(t *testing.T, base, secret string) int {
		t.Helper()
		body := `{"action":{"name":"registerMember"},"input":{"input":{"displayName":"Aiko"}},` +
			`"session_variables":{"x-hasura-role":"member","x-hasura-user-id":"5e0c0b8a-0000-4000-8000-0000000000c1"}}`
		req, err := http.NewRequest(http.MethodPost, base+"/registerMember", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Action-Secret", secret)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	phases := []struct {
		name string
		env  []string
		want map[string]int
	}{
		{"during the switch", []string{"ACTION_SECRET=" + newSecret, "ACTION_SECRET_PREVIOUS=" + oldSecret},
			map[string]int{oldSecret: http.StatusOK, newSecret: http.StatusOK, "other": http.StatusUnauthorized}},
		{"after the switch", []string{"ACTION_SECRET=" + newSecret},
			map[string]int{oldSecret: http.StatusUnauthorized, newSecret: http.StatusOK, "other": http.StatusUnauthorized}},
	}
	for _, ph := range phases {
		port := freePort(t)
		p := start(t, cleanEnv(append(ph.env, "DATABASE_URL="+db, "PORT="+port)...), port)
		p.waitHealthy(t, http.StatusOK)
		for secret, want := range ph.want {
			if got := call(t, p.base, secret); got != want {
				t.Errorf("%s: X-Action-Secret %s answered %d, want %d", ph.name, secret, got, want)
			}
		}
		if code := p.stop(t); code != 0 {
			t.Fatalf("exit code after SIGTERM = %d:\n%s", code, p.output)
		}
	}
}
