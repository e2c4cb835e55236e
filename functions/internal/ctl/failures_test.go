package ctl_test

import (
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/failures"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/server"
)

// functions serves the real route table over w's database, with the failure recorder.
func (w *world) functions() *httptest.Server {
	w.t.Helper()
	env := &hasura.Envelope{Secret: hasuratest.Secret, Failures: failures.Recorder{DB: w.db}, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(routes.Mux(routes.Table(env, loyalty.New(w.db)), server.Health(w.db, nil)))
	w.t.Cleanup(srv.Close)
	w.vars["FUNCTIONS_BASE_URL"], w.vars["ACTION_SECRET"] = srv.URL, hasuratest.Secret
	return srv
}

func TestAReplayOfARealFailedDeliveryResolvesIt(t *testing.T) {
	w := newWorld(t)
	srv := w.functions()
	// Five members with points past their expiry, and an expiry run whose time budget ends
	// after every batch of two: Hasura's delivery fails with 503 and is recorded.
	for range 5 {
		id, _ := lt.Member(t, w.db)
		lt.Exec(t, w.db, `
			WITH e AS (INSERT INTO point_transactions (member_id, kind, points, balance_after, reason, idempotency_key, created_at)
				VALUES ($1::uuid, 'adjust', 10, 10, 'seed', 'seed:' || $1::text, now() - interval '2 years') RETURNING id)
			INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
			SELECT $1::uuid, id, 10, 10, now() - interval '2 years', now() - interval '1 year' FROM e`, id)
		lt.Exec(t, w.db, `UPDATE members SET points_balance = 10 WHERE id = $1`, id)
	}
	d := hasuratest.Cron(t, "expire_points", time.Now(), map[string]any{"batch_size": 2, "budget_seconds": 1e-9})
	req := d.Request(t)
	req.RequestURI, req.URL.Scheme, req.URL.Host = "", "http", srv.Listener.Addr().String()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("the delivery answered %d, want 503", resp.StatusCode)
	}
	var id int64
	if err := w.db.QueryRow(t.Context(), `SELECT id FROM trigger_failures WHERE trigger = 'expire_points' AND resolved_at IS NULL`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	w.want(w.run("failures", "list"), 0, "expire_points", d.ID, "503", "open")
	// Each replay does one more batch: 2, 4, then the last member and the run's record.
	var a answer
	for i := 0; i < 5; i++ {
		if a = w.run("failures", "replay", strconv.FormatInt(id, 10)); a.code == 0 {
			break
		}
		w.want(a, 1, "still open", "unavailable")
	}
	w.want(a, 0, "resolved")
	if n := lt.Count(t, w.db, `SELECT count(*) FROM trigger_failures WHERE id = $1 AND resolved_at IS NOT NULL`, id); n != 1 {
		t.Fatal("the failure is not resolved")
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE kind = 'expire'`); n != 5 {
		t.Fatalf("%d expire entries, want one per member", n)
	}
	w.want(w.run("failures", "list"), 0)
	if a := w.run("failures", "list", "--json"); a.out != "[]\n" {
		t.Errorf("open failures after the replay: %s", a.out)
	}
	w.want(w.run("failures", "list", "--all"), 0, "resolved")
	w.want(w.run("check", "invariants"), 0)
}

func TestAReplayThatIsRefusedPrintsTheAnswerAndStaysOpen(t *testing.T) {
	w := newWorld(t)
	w.functions()
	lt.Exec(t, w.db, `INSERT INTO trigger_failures (trigger, delivery_id, payload, status, error) VALUES ('order_paid', 'e-1', '{"id":"e-1"}', 400, 'bad')`)
	w.want(w.run("failures", "replay", "1"), 1, "order_paid e-1: 400, still open", "invalid_input")
	if n := lt.Count(t, w.db, `SELECT count(*) FROM trigger_failures WHERE id = 1 AND resolved_at IS NULL`); n != 1 {
		t.Fatal("a refused replay resolved the failure")
	}
	w.want(w.run("failures", "replay", "99"), 1, "no such failure")
	delete(w.vars, "ACTION_SECRET")
	w.want(w.run("failures", "replay", "1"), 1, "[config]")
}

// A replay of several ids goes on after one that fails, reports each, and exits 1 if any
// failed.
func TestAReplayOfSeveralIDsReportsEachAndGoesOnAfterAFailure(t *testing.T) {
	w := newWorld(t)
	w.functions()
	lt.Exec(t, w.db, `INSERT INTO trigger_failures (trigger, delivery_id, payload, status, error) VALUES ('order_paid', 'e-1', '{"id":"e-1"}', 400, 'bad')`)
	cron := hasuratest.Cron(t, "expire_points", time.Now(), map[string]any{"batch_size": 100})
	lt.Exec(t, w.db, `INSERT INTO trigger_failures (trigger, delivery_id, payload, status, error) VALUES ('expire_points', $1, $2, 503, 'busy')`, cron.ID, string(cron.Body))
	open := func(id int) int64 {
		return lt.Count(t, w.db, `SELECT count(*) FROM trigger_failures WHERE id = $1 AND resolved_at IS NULL`, id)
	}
	a := w.run("failures", "replay", "1", "99", "2")
	w.want(a, 1, "1 order_paid e-1: 400, still open", "99: error [not_found]: failure 99: no such failure", "2 expire_points "+cron.ID+": 200, resolved",
		"3 replayed: 1 resolved, 2 failed")
	if open(1) != 1 || open(2) != 0 {
		t.Fatalf("open: failure 1 %d, failure 2 %d; want 1 still open and 2 resolved", open(1), open(2))
	}
	lt.Exec(t, w.db, `UPDATE trigger_failures SET resolved_at = NULL WHERE id = 2`)
	j := w.run("failures", "replay", "1", "99", "2", "--json")
	w.want(j, 1)
	res := decode[[]struct {
		ID       int64
		Status   int
		Resolved bool
		Error    *struct{ Code, Message string }
	}](t, j.out)
	if len(res) != 3 || res[0].ID != 1 || res[0].Resolved || res[0].Status != 400 || res[0].Error != nil ||
		res[1].ID != 99 || res[1].Error == nil || res[1].Error.Code != "not_found" ||
		res[2].ID != 2 || !res[2].Resolved || res[2].Error != nil {
		t.Fatalf("json %+v\n%s", res, j.out)
	}
	w.want(w.run("failures", "replay", "2"), 0, "resolved")
}
