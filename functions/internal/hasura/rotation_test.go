package hasura_test

import (
	"net/http"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
)

// A rotation of ACTION_SECRET without downtime (docs/operations.md): the functions accept the
// old and the new secret while both are configured, Hasura switches, then the old one goes.
func TestSecretRotationAcceptsOldAndNewOnlyWhileBothAreConfigured(t *testing.T) {
	const oldSecret, newSecret = "old-action-secret-value", "new-action-secret-value"
	phases := []struct {
		name            string
		current, before string // Envelope.Secret, Envelope.PreviousSecret
		accepted        []string
	}{
		{"before the switch (old only)", oldSecret, "", []string{oldSecret}},
		{"during the switch (new, old as previous)", newSecret, oldSecret, []string{oldSecret, newSecret}},
		{"after the switch (new only)", newSecret, "", []string{newSecret}},
	}
	for _, k := range kinds {
		for _, p := range phases {
			for _, sent := range []string{oldSecret, newSecret, "", "wrong", oldSecret + newSecret, newSecret[:10]} {
				want := false
				for _, a := range p.accepted {
					want = want || a == sent
				}
				t.Run(k.name+": "+p.name+": sends "+label(sent), func(t *testing.T) {
					env := newEnv(nil)
					env.Secret, env.PreviousSecret = p.current, p.before
					calls := 0
					req := k.request(t)
					req.Header.Set(hasura.SecretHeader, sent)
					rec := hasuratest.Do(t, k.serve(env, ok("x"), &calls), req)
					if want && (rec.Code != http.StatusOK || calls != 1) {
						t.Fatalf("status %d, %d calls; want 200 and one call", rec.Code, calls)
					}
					if !want && (rec.Code != http.StatusUnauthorized || calls != 0) {
						t.Fatalf("status %d, %d calls; want 401 and none", rec.Code, calls)
					}
				})
			}
		}
	}
}

func label(s string) string {
	if s == "" {
		return "an empty header"
	}
	return s
}
