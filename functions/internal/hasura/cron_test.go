package hasura_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
)

func TestCronPayloadDecodes(t *testing.T) {
	base := parseDoc(t, cronJSON)
	scheduled := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	comment := "nightly expiry"
	tests := []struct {
		name        string
		body        doc
		wantName    string
		wantTime    time.Time
		wantBatch   int
		wantComment *string
		wantCreated *time.Time
	}{
		{"a cron trigger carries every field", base, "expire_points", scheduled, 500, &comment, nil},
		{"a trigger without a comment leaves it out", base.without(t, "comment"), "expire_points", scheduled, 500, nil, nil},
		{"a null comment is none", base.with(t, "comment", `null`), "expire_points", scheduled, 500, nil, nil},
		{"a null payload leaves the payload empty", base.with(t, "payload", `null`), "expire_points", scheduled, 0, &comment, nil},
		{"a scheduled time with microseconds", base.with(t, "scheduled_time", `"2026-03-01T00:00:00.000001Z"`), "expire_points", scheduled.Add(time.Microsecond), 500, &comment, nil},
		{"a scheduled time with an offset is converted to UTC", base.with(t, "scheduled_time", `"2026-03-01T09:00:00+09:00"`), "expire_points", scheduled, 500, &comment, nil},
		{"a one-off scheduled event has created_at and no name",
			base.without(t, "name").with(t, "created_at", `"2026-02-28T12:30:00.5Z"`), "", scheduled, 500, &comment,
			ptr(time.Date(2026, 2, 28, 12, 30, 0, 500_000_000, time.UTC))},
		{"unknown fields at every level are ignored",
			base.with(t, "payload.dry_run", `true`).with(t, "header", `[]`).with(t, "tries", `0`), "expire_points", scheduled, 500, &comment, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := serveCron[expiryPayload](t, newEnv(nil), tt.body.bytes(t))
			if out := hasuratest.DecodeOutput[map[string]int](t, rec); out["expired"] != 3 {
				t.Errorf("output = %v", out)
			}
			req := s.only(t)
			if req.ID != cronID || req.Name != tt.wantName {
				t.Errorf("id %q, name %q", req.ID, req.Name)
			}
			if !req.ScheduledTime.Equal(tt.wantTime) || req.ScheduledTime.Location() != time.UTC {
				t.Errorf("scheduled_time = %v, want %v in UTC", req.ScheduledTime.Time, tt.wantTime)
			}
			if req.Payload.Batch != tt.wantBatch {
				t.Errorf("payload = %+v", req.Payload)
			}
			switch {
			case tt.wantComment == nil && req.Comment != nil:
				t.Errorf("comment = %q, want none", *req.Comment)
			case tt.wantComment != nil && (req.Comment == nil || *req.Comment != *tt.wantComment):
				t.Errorf("comment = %v, want %q", req.Comment, *tt.wantComment)
			}
			switch {
			case tt.wantCreated == nil && req.CreatedAt != nil:
				t.Errorf("created_at = %v, want none", req.CreatedAt.Time)
			case tt.wantCreated != nil && (req.CreatedAt == nil || !req.CreatedAt.Equal(*tt.wantCreated)):
				t.Errorf("created_at = %v, want %v", req.CreatedAt, *tt.wantCreated)
			}
		})
	}
}

// The payload is whatever cron_triggers.yaml configures; a handler may take it raw.
func TestCronPayloadCanBeTakenRaw(t *testing.T) {
	rec, s := serveCron[json.RawMessage](t, newEnv(nil), parseDoc(t, cronJSON).with(t, "payload", `{"batch":500,"tiers":["gold"]}`).bytes(t))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got := string(s.only(t).Payload); got != `{"batch":500,"tiers":["gold"]}` {
		t.Errorf("payload = %s", got)
	}
}

func TestCronFieldsOfTheWrongTypeOrMissingAreRefusedByName(t *testing.T) {
	base := parseDoc(t, cronJSON)
	tests := []struct {
		name  string
		body  doc
		field string
	}{
		{"an id given as a number", base.with(t, "id", `1`), "id"},
		{"no id", base.without(t, "id"), "id"},
		{"an empty id", base.with(t, "id", `""`), "id"},
		{"a name given as a number", base.with(t, "name", `1`), "name"},
		{"no scheduled time", base.without(t, "scheduled_time"), "scheduled_time"},
		{"a null scheduled time", base.with(t, "scheduled_time", `null`), "scheduled_time"},
		{"a scheduled time that is not a time", base.with(t, "scheduled_time", `"tomorrow"`), "scheduled_time"},
		{"a scheduled time given as a number", base.with(t, "scheduled_time", `1772323200`), "scheduled_time"},
		{"a payload field of the wrong type", base.with(t, "payload.batch", `"500"`), "payload.batch"},
		{"a payload given as a list", base.with(t, "payload", `[500]`), "payload"},
		{"a comment given as a number", base.with(t, "comment", `5`), "comment"},
		{"a created_at that is not a time", base.with(t, "created_at", `"now"`), "created_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := serveCron[expiryPayload](t, newEnv(nil), tt.body.bytes(t))
			refused(t, rec, s.calls(), tt.field)
		})
	}
}
