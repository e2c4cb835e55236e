package hasuratest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type storeRow struct {
	ID        string      `json:"id"`
	Code      string      `json:"code"`
	Name      string      `json:"name"`
	Timezone  string      `json:"timezone"`
	Active    bool        `json:"active"`
	CreatedAt hasura.Time `json:"created_at"`
}

type rewardRow struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PointsCost int64  `json:"points_cost"`
	Stock      *int   `json:"stock"`
}

// seenEvent is what an event-trigger handler received.
type seenEvent[Row any] struct {
	mu   sync.Mutex
	reqs []*hasura.EventRequest[Row]
}

func (s *seenEvent[Row]) handler() http.Handler {
	return hasura.EventTrigger(&hasura.Envelope{Secret: hasuratest.Secret}, func(_ context.Context, req *hasura.EventRequest[Row]) (map[string]bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.reqs = append(s.reqs, req)
		return map[string]bool{"ok": true}, nil
	})
}

// deliver sends d through a real EventTrigger handler and returns what the handler decoded.
func deliver[Row any](t *testing.T, d hasuratest.Delivery) *hasura.EventRequest[Row] {
	t.Helper()
	var seen seenEvent[Row]
	rec := hasuratest.Do(t, seen.handler(), d.Request(t))
	if rec.Code != http.StatusOK || len(seen.reqs) != 1 {
		t.Fatalf("delivery answered %d and reached the handler %d times; body: %s", rec.Code, len(seen.reqs), rec.Body)
	}
	return seen.reqs[0]
}

func exec(t *testing.T, db *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func takeOne(t *testing.T, db *pgxpool.Pool, trigger string) hasuratest.Delivery {
	t.Helper()
	ds := hasuratest.TakeEvents(t, db, trigger)
	if len(ds) != 1 {
		t.Fatalf("captured %d events for %s, want 1", len(ds), trigger)
	}
	return ds[0]
}

// rawEvent splits a delivery body the way a reader of the wire format sees it.
type rawEvent struct {
	ID           string          `json:"id"`
	CreatedAt    string          `json:"created_at"`
	DeliveryInfo json.RawMessage `json:"delivery_info"`
	Event        struct {
		Op               string          `json:"op"`
		SessionVariables json.RawMessage `json:"session_variables"`
		TraceContext     json.RawMessage `json:"trace_context"`
		Data             struct {
			Old json.RawMessage `json:"old"`
			New json.RawMessage `json:"new"`
		} `json:"data"`
	} `json:"event"`
}

func decodeRaw(t *testing.T, d hasuratest.Delivery) rawEvent {
	t.Helper()
	var e rawEvent
	if err := json.Unmarshal(d.Body, &e); err != nil {
		t.Fatalf("delivery body: %v: %s", err, d.Body)
	}
	return e
}

var hasuraCreatedAt = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?$`)

func TestAnInsertIsDeliveredAsHasuraDeliversIt(t *testing.T) {
	db := pgtest.Pool(t)
	hasuratest.CaptureEvents(t, db, "store_added", "stores", "INSERT")
	before := time.Now().Add(-time.Minute)
	exec(t, db, `INSERT INTO stores (id, code, name, timezone, created_at)
		VALUES ('7a7a7a7a-0000-4000-8000-000000000001', 'GINZA', 'Kaiser Kitchen Ginza', 'Asia/Tokyo', '2026-01-02T03:04:05.123456Z')`)

	d := takeOne(t, db, "store_added")
	req := deliver[storeRow](t, d)

	if req.ID != d.ID || req.ID == "" {
		t.Errorf("event id = %q, delivery id = %q", req.ID, d.ID)
	}
	if req.Trigger.Name != "store_added" || req.Table != (hasura.Table{Schema: "public", Name: "stores"}) {
		t.Errorf("trigger %q on table %+v", req.Trigger.Name, req.Table)
	}
	if req.DeliveryInfo != (hasura.DeliveryInfo{}) {
		t.Errorf("delivery_info = %+v, want a first attempt with no retries", req.DeliveryInfo)
	}
	if req.Event.Op != hasura.OpInsert || req.Event.Data.Old != nil || req.Event.Data.New == nil {
		t.Fatalf("op %s, old %v, new %v", req.Event.Op, req.Event.Data.Old, req.Event.Data.New)
	}
	want := storeRow{ID: "7a7a7a7a-0000-4000-8000-000000000001", Code: "GINZA", Name: "Kaiser Kitchen Ginza", Timezone: "Asia/Tokyo", Active: true,
		CreatedAt: hasura.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)}}
	if got := *req.Event.Data.New; got != want {
		t.Errorf("new row = %+v, want %+v", got, want)
	}
	if req.Event.SessionVariables != nil || req.Event.TraceContext != nil {
		t.Errorf("a change made outside Hasura has session %v and trace %v, want null", req.Event.SessionVariables, req.Event.TraceContext)
	}
	if req.CreatedAt.Before(before) || req.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("created_at = %v, want about now", req.CreatedAt)
	}
	if raw := decodeRaw(t, d); !hasuraCreatedAt.MatchString(raw.CreatedAt) {
		t.Errorf("created_at = %q, want Hasura's zone-less microsecond format", raw.CreatedAt)
	}
}

func TestRowDataIsPostgresRowToJSONByteForByte(t *testing.T) {
	db := pgtest.Pool(t)
	ctx := context.Background()
	// A table of its own: the product's tables bound their integers to GraphQL's Int, and this
	// checks that an integer beyond float64's precision still passes byte for byte.
	if _, err := db.Exec(ctx, `CREATE TABLE public.capture_probe (
		id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, description text, points_cost bigint,
		stock integer, active_from timestamptz, created_at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	hasuratest.CaptureEvents(t, db, "reward_added", "capture_probe", "INSERT")
	var want string
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// The server's zone decides the offset Postgres writes; Hasura's database runs in UTC.
		if _, err := tx.Exec(ctx, `SET LOCAL timezone = 'UTC'`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO capture_probe (name, description, points_cost, stock, active_from, created_at)
			VALUES ('Tea & <cake>', 'naïve "quoted"', 9007199254740993, NULL, '2026-01-02T03:04:05.1Z', '2026-01-02T03:04:05.123456Z')
			RETURNING row_to_json(capture_probe.*)::text`).Scan(&want)
	})
	if err != nil {
		t.Fatal(err)
	}

	raw := decodeRaw(t, takeOne(t, db, "reward_added"))

	if string(raw.Event.Data.New) != want {
		t.Errorf("event.data.new =\n%s\nwant row_to_json's\n%s", raw.Event.Data.New, want)
	}
	if string(raw.Event.Data.Old) != "null" {
		t.Errorf("event.data.old = %s, want null on INSERT", raw.Event.Data.Old)
	}
	for _, part := range []string{`"created_at":"2026-01-02T03:04:05.123456+00:00"`, `"active_from":"2026-01-02T03:04:05.1+00:00"`,
		`"points_cost":9007199254740993`, `"stock":null`, `"name":"Tea & <cake>"`} {
		if !regexp.MustCompile(regexp.QuoteMeta(part)).Match(raw.Event.Data.New) {
			t.Errorf("event.data.new lacks %s: %s", part, raw.Event.Data.New)
		}
	}
}

func TestUpdatesFireOnlyWhenAWatchedColumnChanges(t *testing.T) {
	const reward = "5e0c0b8a-0000-4000-8000-0000000000b1" // seeded with stock NULL
	tests := []struct {
		name   string
		op     string
		update string
		fires  bool
	}{
		{"a change of a watched column fires", hasuratest.UpdateOf("stock"), `UPDATE rewards SET stock = 5 WHERE id = $1`, true},
		{"a change from null to a value of a watched column fires", hasuratest.UpdateOf("stock", "points_cost"), `UPDATE rewards SET stock = 0 WHERE id = $1`, true},
		{"a change of an unwatched column does not fire", hasuratest.UpdateOf("stock"), `UPDATE rewards SET name = 'Free tea' WHERE id = $1`, false},
		{"setting a watched column to the value it has does not fire", hasuratest.UpdateOf("stock"), `UPDATE rewards SET stock = NULL WHERE id = $1`, false},
		{"any column change fires when every column is watched", "UPDATE", `UPDATE rewards SET name = 'Free tea' WHERE id = $1`, true},
		{"an update that changes nothing does not fire when every column is watched", "update", `UPDATE rewards SET name = name, stock = stock WHERE id = $1`, false},
		{"an update of no row does not fire", "UPDATE", `UPDATE rewards SET stock = 1 WHERE id = $1 AND false`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := pgtest.Pool(t)
			hasuratest.CaptureEvents(t, db, "reward_changed", "rewards", tt.op)
			exec(t, db, tt.update, reward)

			ds := hasuratest.TakeEvents(t, db, "reward_changed")
			if !tt.fires {
				if len(ds) != 0 {
					t.Fatalf("captured %d events, want none: %s", len(ds), ds[0].Body)
				}
				return
			}
			if len(ds) != 1 {
				t.Fatalf("captured %d events, want 1", len(ds))
			}
			req := deliver[rewardRow](t, ds[0])
			if req.Event.Op != hasura.OpUpdate || req.Event.Data.Old == nil || req.Event.Data.New == nil {
				t.Fatalf("op %s with old %v and new %v, want UPDATE with both", req.Event.Op, req.Event.Data.Old, req.Event.Data.New)
			}
			if req.Event.Data.Old.ID != reward || req.Event.Data.New.ID != reward || req.Event.Data.Old.Name != "Free coffee" {
				t.Errorf("old %+v, new %+v", *req.Event.Data.Old, *req.Event.Data.New)
			}
		})
	}
}

func TestADeleteCarriesTheOldRowAndNoNewOne(t *testing.T) {
	db := pgtest.Pool(t)
	hasuratest.CaptureEvents(t, db, "reward_removed", "rewards", "DELETE")
	exec(t, db, `DELETE FROM rewards WHERE id = '5e0c0b8a-0000-4000-8000-0000000000b2'`)

	d := takeOne(t, db, "reward_removed")
	if raw := decodeRaw(t, d); string(raw.Event.Data.New) != "null" {
		t.Errorf("event.data.new = %s, want null on DELETE", raw.Event.Data.New)
	}
	req := deliver[rewardRow](t, d)
	if req.Event.Op != hasura.OpDelete || req.Event.Data.Old == nil || req.Event.Data.New != nil {
		t.Fatalf("op %s, old %v, new %v", req.Event.Op, req.Event.Data.Old, req.Event.Data.New)
	}
	if old := req.Event.Data.Old; old.Name != "Dessert of the day" || old.Stock == nil || *old.Stock != 500 || old.PointsCost != 250 {
		t.Errorf("old row = %+v", *old)
	}
}

func TestTakeEventsHandsOutEachCommittedEventOnceInOrder(t *testing.T) {
	db := pgtest.Pool(t)
	hasuratest.CaptureEvents(t, db, "store_changed", "stores", "INSERT", "UPDATE", "DELETE")
	hasuratest.CaptureEvents(t, db, "other_trigger", "stores", "INSERT")
	ctx := context.Background()

	exec(t, db, `INSERT INTO stores (code, name) VALUES ('A', 'First')`)
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO stores (code, name) VALUES ('ROLLED', 'Never committed')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `UPDATE stores SET name = 'First, renamed' WHERE code = 'A'`)
	exec(t, db, `INSERT INTO stores (code, name) VALUES ('B', 'Second')`)
	exec(t, db, `DELETE FROM stores WHERE code = 'B'`)

	ds := hasuratest.TakeEvents(t, db, "store_changed")
	type step struct{ op, code, name string }
	var got []step
	ids := map[string]bool{}
	for _, d := range ds {
		req := deliver[storeRow](t, d)
		row := req.Event.Data.New
		if row == nil {
			row = req.Event.Data.Old
		}
		got = append(got, step{req.Event.Op, row.Code, row.Name})
		ids[d.ID] = true
	}
	want := []step{{"INSERT", "A", "First"}, {"UPDATE", "A", "First, renamed"}, {"INSERT", "B", "Second"}, {"DELETE", "B", "Second"}}
	if len(got) != len(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %v, want %v", i, got[i], want[i])
		}
	}
	if len(ids) != len(ds) {
		t.Errorf("event ids are not distinct: %v", ids)
	}
	if again := hasuratest.TakeEvents(t, db, "store_changed"); len(again) != 0 {
		t.Errorf("taking again gave %d events, want none", len(again))
	}
	if other := hasuratest.TakeEvents(t, db, "other_trigger"); len(other) != 2 {
		t.Errorf("the other trigger on the table captured %d events, want its own 2", len(other))
	}
}

func TestSessionAndTraceOfAHasuraMutationAreCaptured(t *testing.T) {
	db := pgtest.Pool(t)
	hasuratest.CaptureEvents(t, db, "store_added", "stores", "INSERT")
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		hasuratest.SetSessionVariables(t, tx, hasuratest.Session("manager", "5e0c0b8a-0000-4000-8000-0000000000a1"))
		if _, err := tx.Exec(ctx, `SELECT set_config('hasura.tracecontext', '{"trace_id":"0af7651916cd43dd","span_id":"b7ad6b71"}', true)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO stores (code, name) VALUES ('C', 'Third')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A later change made outside Hasura carries none, even on a connection where the setting
	// was once set and now reads as '' (graphql-engine#8498).
	exec(t, db, `INSERT INTO stores (code, name) VALUES ('D', 'Fourth')`)

	ds := hasuratest.TakeEvents(t, db, "store_added")
	if len(ds) != 2 {
		t.Fatalf("captured %d events, want 2", len(ds))
	}
	first := deliver[storeRow](t, ds[0])
	if s := first.Event.SessionVariables; s.Role() != "manager" || s.UserID() != "5e0c0b8a-0000-4000-8000-0000000000a1" {
		t.Errorf("session_variables = %v", s)
	}
	if tc := first.Event.TraceContext; tc == nil || *tc != (hasura.TraceContext{TraceID: "0af7651916cd43dd", SpanID: "b7ad6b71"}) {
		t.Errorf("trace_context = %+v", tc)
	}
	second := deliver[storeRow](t, ds[1])
	if second.Event.SessionVariables != nil || second.Event.TraceContext != nil {
		t.Errorf("a change outside Hasura carries session %v and trace %+v, want null", second.Event.SessionVariables, second.Event.TraceContext)
	}
}

func TestCapturingTwiceReplacesTheTriggerInsteadOfDoublingIt(t *testing.T) {
	db := pgtest.Pool(t)
	hasuratest.CaptureEvents(t, db, "store_added", "stores", "INSERT")
	hasuratest.CaptureEvents(t, db, "store_added", "stores", "INSERT")
	exec(t, db, `INSERT INTO stores (code, name) VALUES ('E', 'Fifth')`)
	if ds := hasuratest.TakeEvents(t, db, "store_added"); len(ds) != 1 {
		t.Fatalf("captured %d events, want 1", len(ds))
	}
}

func TestACapturedEventCanBeRedeliveredWithTheSameID(t *testing.T) {
	db := pgtest.Pool(t)
	hasuratest.CaptureEvents(t, db, "store_added", "stores", "INSERT")
	exec(t, db, `INSERT INTO stores (code, name) VALUES ('F', 'Sixth')`)
	d := takeOne(t, db, "store_added")

	var seen seenEvent[storeRow]
	h := seen.handler()
	for _, rec := range hasuratest.DeliverConcurrently(t, h, d, 10) {
		if rec.Code != http.StatusOK {
			t.Fatalf("a concurrent delivery answered %d: %s", rec.Code, rec.Body)
		}
	}
	retry := d.WithDeliveryInfo(3, 2)
	if rec := hasuratest.Do(t, h, retry.Request(t)); rec.Code != http.StatusOK {
		t.Fatalf("the retry answered %d: %s", rec.Code, rec.Body)
	}
	if len(seen.reqs) != 11 {
		t.Fatalf("the handler ran %d times, want 11", len(seen.reqs))
	}
	for _, req := range seen.reqs {
		if req.ID != d.ID || req.Event.Data.New.Code != "F" {
			t.Errorf("a redelivery carried id %s and row %+v, want id %s", req.ID, req.Event.Data.New, d.ID)
		}
	}
	if last := seen.reqs[10]; last.DeliveryInfo != (hasura.DeliveryInfo{MaxRetries: 3, CurrentRetry: 2}) {
		t.Errorf("the retry's delivery_info = %+v", last.DeliveryInfo)
	}
	if got := decodeRaw(t, retry); string(got.Event.Data.New) != string(decodeRaw(t, d).Event.Data.New) || got.CreatedAt != decodeRaw(t, d).CreatedAt {
		t.Errorf("WithDeliveryInfo changed more than delivery_info:\n%s\n%s", d.Body, retry.Body)
	}
}
