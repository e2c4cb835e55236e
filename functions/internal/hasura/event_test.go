package hasura_test

import (
	"maps"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
)

func TestEventPayloadDecodes(t *testing.T) {
	base := parseDoc(t, eventJSON)
	created := time.Date(2022, 9, 19, 20, 4, 47, 569918000, time.UTC)
	paidAt := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	member := "5e0c0b8a-0000-4000-8000-0000000000c1"
	oldRow := orderRow{ID: "0c4f7a2e-6f55-4f1e-9d0a-3f3b1b8a1c01", Amount: 1200, Status: "pending", PaidAt: hasura.Time{Time: paidAt}}
	newRow := orderRow{ID: "0c4f7a2e-6f55-4f1e-9d0a-3f3b1b8a1c01", MemberID: &member, Amount: 1200, Status: "paid", PaidAt: hasura.Time{Time: paidAt}}
	staff := hasura.Session{"x-hasura-role": "staff", "x-hasura-user-id": "s-1"}
	trace := &hasura.TraceContext{TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331"}

	tests := []struct {
		name        string
		body        doc
		wantCreated time.Time
		wantOp      string
		wantOld     *orderRow
		wantNew     *orderRow
		wantSession hasura.Session
		wantTrace   *hasura.TraceContext
	}{
		{"an UPDATE carries every field", base, created, hasura.OpUpdate, &oldRow, &newRow, staff, trace},
		{"an INSERT has a null old row", base.with(t, "event.op", `"INSERT"`).with(t, "event.data.old", `null`), created, hasura.OpInsert, nil, &newRow, staff, trace},
		{"a DELETE has a null new row", base.with(t, "event.op", `"DELETE"`).with(t, "event.data.new", `null`), created, hasura.OpDelete, &oldRow, nil, staff, trace},
		{"a MANUAL invocation has the row as new", base.with(t, "event.op", `"MANUAL"`).with(t, "event.data.old", `null`), created, hasura.OpManual, nil, &newRow, staff, trace},
		{"created_at with a Z", base.with(t, "created_at", `"2022-09-19T20:04:47.569918Z"`), created, hasura.OpUpdate, &oldRow, &newRow, staff, trace},
		{"created_at with +00:00", base.with(t, "created_at", `"2022-09-19T20:04:47.569918+00:00"`), created, hasura.OpUpdate, &oldRow, &newRow, staff, trace},
		{"created_at with another offset is converted to UTC", base.with(t, "created_at", `"2022-09-20T05:04:47.569918+09:00"`), created, hasura.OpUpdate, &oldRow, &newRow, staff, trace},
		{"created_at with a space as Postgres writes it", base.with(t, "created_at", `"2022-09-19 20:04:47.569918"`), created, hasura.OpUpdate, &oldRow, &newRow, staff, trace},
		{"created_at on a whole second", base.with(t, "created_at", `"2022-09-19T20:04:47"`), created.Truncate(time.Second), hasura.OpUpdate, &oldRow, &newRow, staff, trace},
		{"null session variables of a change made outside Hasura", base.with(t, "event.session_variables", `null`), created, hasura.OpUpdate, &oldRow, &newRow, nil, trace},
		{"session variable keys in mixed case are lower-cased",
			base.with(t, "event.session_variables", `{"X-Hasura-Role":"admin","X-Hasura-User-Id":"U-1"}`), created, hasura.OpUpdate, &oldRow, &newRow,
			hasura.Session{"x-hasura-role": "admin", "x-hasura-user-id": "U-1"}, trace},
		{"a null trace context", base.with(t, "event.trace_context", `null`), created, hasura.OpUpdate, &oldRow, &newRow, staff, nil},
		{"an absent trace context of an older engine", base.without(t, "event.trace_context"), created, hasura.OpUpdate, &oldRow, &newRow, staff, nil},
		{"unknown fields at every level are ignored",
			base.with(t, "trigger.id", `"abc"`).with(t, "table.kind", `"table"`).with(t, "delivery_info.extra", `1`).
				with(t, "event.data.new.added_column", `{"x":[1]}`).with(t, "event.data.extra", `true`).
				with(t, "event.extra", `"x"`).with(t, "event.trace_context.sampling_state", `"1"`).with(t, "source", `"default"`),
			created, hasura.OpUpdate, &oldRow, &newRow, staff, trace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := serveEvent[orderRow](t, newEnv(nil), tt.body.bytes(t))
			if out := hasuratest.DecodeOutput[map[string]string](t, rec); out["status"] != "done" {
				t.Errorf("output = %v", out)
			}
			req := s.only(t)
			if req.ID != eventID {
				t.Errorf("id = %q", req.ID)
			}
			if !req.CreatedAt.Equal(tt.wantCreated) || req.CreatedAt.Location() != time.UTC {
				t.Errorf("created_at = %v, want %v in UTC", req.CreatedAt.Time, tt.wantCreated)
			}
			if req.Trigger.Name != "order_paid" || req.Table != (hasura.Table{Schema: "public", Name: "orders"}) {
				t.Errorf("trigger %q, table %+v", req.Trigger.Name, req.Table)
			}
			if req.DeliveryInfo != (hasura.DeliveryInfo{MaxRetries: 3, CurrentRetry: 1}) {
				t.Errorf("delivery_info = %+v", req.DeliveryInfo)
			}
			if req.Event.Op != tt.wantOp {
				t.Errorf("op = %q, want %q", req.Event.Op, tt.wantOp)
			}
			checkRow(t, "old", req.Event.Data.Old, tt.wantOld)
			checkRow(t, "new", req.Event.Data.New, tt.wantNew)
			if !maps.Equal(req.Event.SessionVariables, tt.wantSession) || (req.Event.SessionVariables == nil) != (tt.wantSession == nil) {
				t.Errorf("session_variables = %#v, want %#v", req.Event.SessionVariables, tt.wantSession)
			}
			switch {
			case tt.wantTrace == nil && req.Event.TraceContext != nil:
				t.Errorf("trace_context = %+v, want none", *req.Event.TraceContext)
			case tt.wantTrace != nil && (req.Event.TraceContext == nil || *req.Event.TraceContext != *tt.wantTrace):
				t.Errorf("trace_context = %+v, want %+v", req.Event.TraceContext, *tt.wantTrace)
			}
		})
	}
}

func checkRow(t *testing.T, which string, got, want *orderRow) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s row = %+v, want none", which, *got)
	case want != nil && got == nil:
		t.Errorf("%s row is missing", which)
	case want != nil:
		if got.ID != want.ID || got.Amount != want.Amount || got.Status != want.Status || !got.PaidAt.Equal(want.PaidAt.Time) ||
			(got.MemberID == nil) != (want.MemberID == nil) || (got.MemberID != nil && *got.MemberID != *want.MemberID) || got.Refunded != nil {
			t.Errorf("%s row = %+v, want %+v", which, *got, *want)
		}
	}
}

func TestEventFieldsOfTheWrongTypeAreRefusedByName(t *testing.T) {
	base := parseDoc(t, eventJSON)
	tests := []struct {
		name  string
		body  doc
		field string
	}{
		{"an id given as a number", base.with(t, "id", `42`), "id"},
		{"created_at given as a number", base.with(t, "created_at", `1663617887`), "created_at"},
		{"created_at that is not a time", base.with(t, "created_at", `"yesterday"`), "created_at"},
		{"the trigger name given as a number", base.with(t, "trigger.name", `1`), "trigger.name"},
		{"the table given as a string", base.with(t, "table", `"orders"`), "table"},
		{"current_retry given as a string", base.with(t, "delivery_info.current_retry", `"1"`), "delivery_info.current_retry"},
		{"the op given as a number", base.with(t, "event.op", `1`), "event.op"},
		{"a row column of the wrong type", base.with(t, "event.data.new.amount", `"1200"`), "event.data.new.amount"},
		{"a row timestamp that is not a time", base.with(t, "event.data.old.paid_at", `"soon"`), "event.data.old.paid_at"},
		{"a row given as a list", base.with(t, "event.data.new", `[1]`), "event.data.new"},
		{"the session given as a string", base.with(t, "event.session_variables", `"admin"`), "event.session_variables"},
		{"a session variable given as a number", base.with(t, "event.session_variables.x-hasura-user-id", `7`), "event.session_variables.x-hasura-user-id"},
		{"the trace context given as a string", base.with(t, "event.trace_context", `"abc"`), "event.trace_context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := serveEvent[orderRow](t, newEnv(nil), tt.body.bytes(t))
			refused(t, rec, s.calls(), tt.field)
		})
	}
}

func TestEventsWithoutARequiredEnvelopeFieldAreRefusedByName(t *testing.T) {
	base := parseDoc(t, eventJSON)
	insert := base.with(t, "event.op", `"INSERT"`).with(t, "event.data.old", `null`)
	tests := []struct {
		name  string
		body  doc
		field string
	}{
		{"no id", base.without(t, "id"), "id"},
		{"an empty id", base.with(t, "id", `""`), "id"},
		{"no trigger", base.without(t, "trigger"), "trigger.name"},
		{"no trigger name", base.without(t, "trigger.name"), "trigger.name"},
		{"no table name", base.without(t, "table.name"), "table.name"},
		{"no op", base.without(t, "event.op"), "event.op"},
		{"no event at all", base.without(t, "event"), "event.op"},
		{"an op Hasura never sends", base.with(t, "event.op", `"TRUNCATE"`), "event.op"},
		{"an op in lower case", base.with(t, "event.op", `"insert"`), "event.op"},
		{"an INSERT without a new row", insert.with(t, "event.data.new", `null`), "event.data.new"},
		{"an INSERT without data", insert.without(t, "event.data"), "event.data.new"},
		{"a MANUAL invocation without a row", base.with(t, "event.op", `"MANUAL"`).without(t, "event.data.new"), "event.data.new"},
		{"an UPDATE without an old row", base.with(t, "event.data.old", `null`), "event.data"},
		{"an UPDATE without a new row", base.without(t, "event.data.new"), "event.data"},
		{"a DELETE without an old row", base.with(t, "event.op", `"DELETE"`).with(t, "event.data.old", `null`), "event.data.old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := serveEvent[orderRow](t, newEnv(nil), tt.body.bytes(t))
			refused(t, rec, s.calls(), tt.field)
		})
	}
}
