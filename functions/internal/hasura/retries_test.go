package hasura_test

import (
	"net/http"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
)

// Hasura stops once current_retry reaches max_retries; a pause asked for then would never be
// taken, and the failure waits in trigger_failures for an operator instead.
func TestAnEventAsksForAPauseOnlyWhileHasuraHasRetriesLeft(t *testing.T) {
	tests := []struct {
		name                     string
		maxRetries, currentRetry int
		wantRetryAfter           bool
	}{
		{"the first of three retries asks for a pause", 3, 0, true},
		{"the last retry but one asks for a pause", 3, 2, true},
		{"the last retry answers 503 without a pause", 3, 3, false},
		{"a trigger configured without retries answers 503 without a pause", 0, 0, false},
		{"an attempt past max_retries answers 503 without a pause", 2, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failures := &failureLog{}
			calls := 0
			h := kinds[1].serve(newEnv(failures), fails(temporary{}), &calls)
			d := hasuratest.Event(t, "order_paid", "orders", hasura.OpInsert, nil, orderJSON).WithDeliveryInfo(tt.maxRetries, tt.currentRetry)
			rec := hasuratest.Do(t, h, d.Request(t))
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", rec.Code)
			}
			if got := rec.Header().Get("Retry-After") != ""; got != tt.wantRetryAfter {
				t.Errorf("Retry-After %q, want one: %v", rec.Header().Get("Retry-After"), tt.wantRetryAfter)
			}
			if f := failures.all(); len(f) != 1 || f[0].Attempt != tt.currentRetry || f[0].Status != 503 {
				t.Errorf("failures recorded %+v, want one 503 of attempt %d", f, tt.currentRetry)
			}
		})
	}
}

// A cron delivery does not say which attempt it is, so it always asks for the pause.
func TestACronTriggerAlwaysAsksForAPause(t *testing.T) {
	calls := 0
	rec := hasuratest.Do(t, kinds[2].serve(newEnv(nil), fails(temporary{}), &calls), kinds[2].request(t))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}
