package hasura_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
)

func TestFailedTriggerDeliveriesAreRecorded(t *testing.T) {
	event := kinds[1]
	cron := kinds[2]
	tests := []struct {
		name       string
		k          kind
		res        result
		request    func(t *testing.T) *http.Request
		want       hasura.Failure // Payload is checked against the request body
		wantErrHas string
	}{
		{"an event whose handler fails is recorded with its id and attempt", event, fails(errBoom), event.request,
			hasura.Failure{Trigger: "order_paid", DeliveryID: eventID, Status: 500, Attempt: 2}, "boom"},
		{"an event whose handler refuses it is recorded with the 4xx", event, fails(&hasura.Error{Status: 409, Code: "duplicate", Message: "dup"}), event.request,
			hasura.Failure{Trigger: "order_paid", DeliveryID: eventID, Status: 409, Attempt: 2}, "duplicate"},
		{"an event that fails for now is recorded as a 503", event, fails(temporary{}), event.request,
			hasura.Failure{Trigger: "order_paid", DeliveryID: eventID, Status: 503, Attempt: 2}, "unreachable"},
		{"the first attempt of an event is attempt 0", event, fails(errBoom), func(t *testing.T) *http.Request {
			return hasuratest.EventRequest(t, "member_created", "members", hasura.OpInsert, nil, orderJSON, hasuratest.WithID("e-0"))
		}, hasura.Failure{Trigger: "member_created", DeliveryID: "e-0", Status: 500, Attempt: 0}, "boom"},
		{"an event that cannot be decoded is recorded with what can be read of it", event, ok("x"), func(t *testing.T) *http.Request {
			return hasuratest.RawRequest(t, "/order_paid", parseDoc(t, eventJSON).with(t, "event.data.new.amount", `"12"`).bytes(t))
		}, hasura.Failure{Trigger: "order_paid", DeliveryID: eventID, Status: 400, Attempt: 1}, "event.data.new.amount"},
		{"a cron trigger whose handler fails is recorded with its id", cron, fails(errBoom), cron.request,
			hasura.Failure{Trigger: "expire_points", DeliveryID: cronID, Status: 500, Attempt: 0}, "boom"},
		{"a cron trigger that fails for now is recorded as a 503", cron, fails(temporary{}), cron.request,
			hasura.Failure{Trigger: "expire_points", DeliveryID: cronID, Status: 503, Attempt: 0}, "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failures := &failureLog{}
			calls := 0
			req := tt.request(t)
			body, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			rec := hasuratest.Do(t, tt.k.serve(newEnv(failures), tt.res, &calls), hasuratest.RawRequest(t, req.URL.Path, body))
			got := failures.all()
			if len(got) != 1 {
				t.Fatalf("%d failures recorded after a %d, want 1", len(got), rec.Code)
			}
			f := got[0]
			if f.Trigger != tt.want.Trigger || f.DeliveryID != tt.want.DeliveryID || f.Attempt != tt.want.Attempt || f.Status != tt.want.Status {
				t.Errorf("failure = {Trigger:%q DeliveryID:%q Attempt:%d Status:%d}, want %+v", f.Trigger, f.DeliveryID, f.Attempt, f.Status, tt.want)
			}
			if f.Status != rec.Code {
				t.Errorf("recorded status %d, answered %d", f.Status, rec.Code)
			}
			if string(f.Payload) != string(body) {
				t.Errorf("payload = %s, want the request body %s", f.Payload, body)
			}
			if !strings.Contains(f.Error, tt.wantErrHas) {
				t.Errorf("error = %q, want it to mention %q", f.Error, tt.wantErrHas)
			}
		})
	}
}

func TestEveryRedeliveryOfAFailingEventIsRecorded(t *testing.T) {
	failures := &failureLog{}
	calls := 0
	h := kinds[1].serve(newEnv(failures), fails(errBoom), &calls)
	d := hasuratest.Event(t, "order_paid", "orders", hasura.OpInsert, nil, orderJSON)
	for attempt := range 3 {
		hasuratest.Do(t, h, d.WithDeliveryInfo(2, attempt).Request(t))
	}
	got := failures.all()
	if len(got) != 3 {
		t.Fatalf("%d failures recorded, want 3", len(got))
	}
	for i, f := range got {
		if f.DeliveryID != d.ID || f.Attempt != i {
			t.Errorf("failure %d: delivery %q attempt %d, want %q attempt %d", i, f.DeliveryID, f.Attempt, d.ID, i)
		}
	}
}

func TestARecorderThatFailsDoesNotChangeTheAnswer(t *testing.T) {
	for _, k := range kinds[1:] {
		t.Run(k.name, func(t *testing.T) {
			failures := &failureLog{err: errors.New("failure table is gone")}
			calls := 0
			rec := hasuratest.Do(t, k.serve(newEnv(failures), fails(temporary{}), &calls), k.request(t))
			checkErrorShape(t, rec, http.StatusServiceUnavailable)
			if rec.Header().Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
			if len(failures.all()) != 1 {
				t.Errorf("the recorder was called %d times", len(failures.all()))
			}
		})
	}
}

// A delivery that failed because its request was cancelled (Hasura's timeout, a shutdown)
// must still be recorded: the recorder gets a context that is not cancelled.
func TestAFailureIsRecordedEvenWhenTheRequestWasCancelled(t *testing.T) {
	for _, k := range kinds[1:] {
		t.Run(k.name, func(t *testing.T) {
			failures := &failureLog{}
			calls := 0
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			h := k.serve(newEnv(failures), func(ctx context.Context) (any, error) { return nil, ctx.Err() }, &calls)
			hasuratest.Do(t, h, k.request(t).WithContext(ctx))
			if len(failures.ctxErrs) != 1 || failures.ctxErrs[0] != nil {
				t.Fatalf("recorder context errors = %v, want one live context", failures.ctxErrs)
			}
		})
	}
}

func TestARecorderIsNotNeeded(t *testing.T) {
	for _, k := range kinds[1:] {
		t.Run(k.name, func(t *testing.T) {
			env := &hasura.Envelope{Secret: hasuratest.Secret, Logger: discard, RetryAfter: time.Minute}
			calls := 0
			rec := hasuratest.Do(t, k.serve(env, fails(temporary{}), &calls), k.request(t))
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "60" {
				t.Errorf("status %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
			}
		})
	}
}

// An oversized event fails on every retry, so it is recorded; an oversized action is not.
func TestAnOversizedTriggerBodyIsRecordedAndAnActionBodyIsNot(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			log := &failureLog{}
			env := newEnv(log)
			env.MaxBody = 10
			calls := 0
			rec := hasuratest.Do(t, k.serve(env, ok(map[string]string{}), &calls), k.request(t))
			if rec.Code != http.StatusRequestEntityTooLarge || calls != 0 {
				t.Fatalf("status %d, handler calls %d", rec.Code, calls)
			}
			got := log.all()
			if !k.trigger {
				if len(got) != 0 {
					t.Fatalf("an action recorded %d failures", len(got))
				}
				return
			}
			if len(got) != 1 || got[0].Status != http.StatusRequestEntityTooLarge || got[0].Trigger == "" {
				t.Fatalf("records %+v; want one 413 naming the trigger", got)
			}
		})
	}
}

func TestAnErrorWithoutMessageOrCodeStillHasHasurasShape(t *testing.T) {
	env := newEnv(nil)
	h := hasura.Action(env, func(context.Context, *hasura.ActionRequest[map[string]any]) (map[string]any, error) {
		return nil, &hasura.Error{Status: http.StatusNotFound}
	})
	rec := hasuratest.Do(t, h, hasuratest.ActionRequest(t, "earnPoints", map[string]any{}, hasuratest.Session("member", "")))
	body := hasuratest.DecodeError(t, rec)
	if rec.Code != http.StatusNotFound || body.Message == "" || body.Extensions.Code == "" {
		t.Fatalf("%d %+v", rec.Code, body)
	}
}
