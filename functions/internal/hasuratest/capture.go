package hasuratest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
)

// Captured events live in their own schema so that they never look like part of the app's.
const captureDDL = `
CREATE SCHEMA IF NOT EXISTS hasuratest;
CREATE TABLE IF NOT EXISTS hasuratest.event_log (
    seq               bigserial PRIMARY KEY,
    id                uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    trigger_name      text NOT NULL,
    schema_name       text NOT NULL,
    table_name        text NOT NULL,
    op                text NOT NULL,
    data              json NOT NULL,
    session_variables json,
    trace_context     json,
    created_at        timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    delivered         boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS event_log_undelivered_idx ON hasuratest.event_log (trigger_name, seq) WHERE NOT delivered;`

// Hasura's rule for trigger names; it also keeps the name safe inside a SQL literal below.
var triggerName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// UpdateOf names an UPDATE op that fires only when one of columns changes, as Hasura's
// `update: {columns: [...]}`: CaptureEvents(t, db, "order_paid", "orders", "INSERT", UpdateOf("status")).
func UpdateOf(columns ...string) string {
	return "UPDATE OF " + strings.Join(columns, ",")
}

// CaptureEvents installs on public.<table> what `hasura metadata apply` installs for an event
// trigger: an AFTER trigger per op (INSERT, UPDATE, UpdateOf(...), DELETE) that, in the same
// transaction as the row change, logs json_build_object('old', row_to_json(OLD), 'new',
// row_to_json(NEW)) with the session variables and trace context Hasura puts in the
// transaction settings hasura.user and hasura.tracecontext. An UPDATE fires only when a
// watched column (every column for plain "UPDATE") is distinct from its old value, as
// Hasura's trigger does. TakeEvents hands the logged events out as deliveries.
func CaptureEvents(t testing.TB, db *pgxpool.Pool, trigger, table string, ops ...string) {
	t.Helper()
	if !triggerName.MatchString(trigger) {
		t.Fatalf("hasuratest: %q is not a valid Hasura trigger name", trigger)
	}
	if len(ops) == 0 {
		t.Fatalf("hasuratest: CaptureEvents(%s) needs at least one op", trigger)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// Serialize installers: CREATE ... IF NOT EXISTS races with itself.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('hasuratest.capture'))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, captureDDL); err != nil {
			return fmt.Errorf("create the capture table: %w", err)
		}
		columns, err := tableColumns(ctx, tx, table)
		if err != nil {
			return err
		}
		for _, op := range ops {
			sql, err := triggerSQL(trigger, table, op, columns)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("install %s %s: %w", trigger, op, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("hasuratest: CaptureEvents(%s on %s): %v", trigger, table, err)
	}
}

func tableColumns(ctx context.Context, tx pgx.Tx, table string) ([]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT a.attname FROM pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, pgx.Identifier{"public", table}.Sanitize())
	if err != nil {
		return nil, err
	}
	columns, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if len(columns) == 0 {
		return nil, fmt.Errorf("no table public.%s", table)
	}
	return columns, nil
}

// triggerSQL is the function and trigger for one op, named after Hasura's notify_hasura_<name>_<OP>.
func triggerSQL(trigger, table, op string, columns []string) (string, error) {
	verb, watched, err := parseOp(op)
	if err != nil {
		return "", err
	}
	for _, c := range watched {
		if !slices.Contains(columns, c) {
			return "", fmt.Errorf("%s: public.%s has no column %q", op, table, c)
		}
	}
	oldRow, newRow, fire := "row_to_json(OLD)", "row_to_json(NEW)", "true"
	switch verb {
	case hasura.OpInsert:
		oldRow = "NULL"
	case hasura.OpDelete:
		newRow = "NULL"
	case hasura.OpUpdate:
		if len(watched) == 0 {
			fire = "OLD IS DISTINCT FROM NEW"
		} else {
			var o, n []string
			for _, c := range watched {
				o = append(o, "OLD."+pgx.Identifier{c}.Sanitize())
				n = append(n, "NEW."+pgx.Identifier{c}.Sanitize())
			}
			fire = fmt.Sprintf("ROW(%s) IS DISTINCT FROM ROW(%s)", strings.Join(o, ", "), strings.Join(n, ", "))
		}
	}
	fn := pgx.Identifier{"hasuratest", "notify_hasura_" + trigger + "_" + verb}.Sanitize()
	trg := pgx.Identifier{"notify_hasura_" + trigger + "_" + verb}.Sanitize()
	tbl := pgx.Identifier{"public", table}.Sanitize()
	return fmt.Sprintf(`
CREATE OR REPLACE FUNCTION %[1]s() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF %[3]s THEN
        INSERT INTO hasuratest.event_log (trigger_name, schema_name, table_name, op, data, session_variables, trace_context)
        VALUES ('%[4]s', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP,
                json_build_object('old', %[5]s, 'new', %[6]s),
                NULLIF(current_setting('hasura.user', true), '')::json,
                NULLIF(current_setting('hasura.tracecontext', true), '')::json);
    END IF;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS %[2]s ON %[7]s;
CREATE TRIGGER %[2]s AFTER %[8]s ON %[7]s FOR EACH ROW EXECUTE FUNCTION %[1]s();`,
		fn, trg, fire, trigger, oldRow, newRow, tbl, verb), nil
}

func parseOp(op string) (verb string, columns []string, err error) {
	upper := strings.ToUpper(strings.TrimSpace(op))
	switch upper {
	case hasura.OpInsert, hasura.OpUpdate, hasura.OpDelete:
		return upper, nil, nil
	}
	if rest, ok := strings.CutPrefix(upper, "UPDATE OF "); ok && rest != "" {
		// Column names keep the case they were given in.
		list := strings.TrimSpace(op)[len("UPDATE OF "):]
		for c := range strings.SplitSeq(list, ",") {
			if c = strings.TrimSpace(c); c == "" {
				return "", nil, fmt.Errorf("%q names an empty column", op)
			}
			columns = append(columns, c)
		}
		return hasura.OpUpdate, columns, nil
	}
	return "", nil, fmt.Errorf("%q is not INSERT, UPDATE, UpdateOf(...) or DELETE", op)
}

// TakeEvents returns the events captured for trigger and not taken yet, in the order the row
// changes happened, as Hasura would deliver them (first attempt), and marks them taken.
// Events of a rolled-back transaction are never there, as with Hasura.
func TakeEvents(t testing.TB, db *pgxpool.Pool, trigger string) []Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('hasuratest.event_log') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatalf("hasuratest: TakeEvents: %v", err)
	}
	if !exists {
		t.Fatalf("hasuratest: TakeEvents(%s) before any CaptureEvents on this database", trigger)
	}
	rows, err := db.Query(ctx, `
		UPDATE hasuratest.event_log SET delivered = true
		WHERE trigger_name = $1 AND NOT delivered
		RETURNING seq, id::text, schema_name, table_name, op, data::text,
		          coalesce(session_variables::text, 'null'), coalesce(trace_context::text, 'null'), created_at`, trigger)
	if err != nil {
		t.Fatalf("hasuratest: TakeEvents(%s): %v", trigger, err)
	}
	type captured struct {
		seq                   int64
		id, schema, table, op string
		data, session, trace  string
		createdAt             time.Time
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (captured, error) {
		var c captured
		err := row.Scan(&c.seq, &c.id, &c.schema, &c.table, &c.op, &c.data, &c.session, &c.trace, &c.createdAt)
		return c, err
	})
	if err != nil {
		t.Fatalf("hasuratest: TakeEvents(%s): %v", trigger, err)
	}
	slices.SortFunc(events, func(a, b captured) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Delivery, 0, len(events))
	for _, e := range events {
		o := options{id: e.id, createdAt: e.createdAt}
		out = append(out, eventDelivery(t, trigger, e.schema, e.table, e.op, o,
			json.RawMessage(e.data), json.RawMessage(e.session), json.RawMessage(e.trace)))
	}
	return out
}

// SetSessionVariables sets, for the rest of tx, the session variables Hasura sets in the
// transaction of a GraphQL mutation (SET LOCAL hasura.user), which captured events carry as
// event.session_variables.
func SetSessionVariables(t testing.TB, tx pgx.Tx, session map[string]string) {
	t.Helper()
	b, err := json.Marshal(session)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), `SELECT set_config('hasura.user', $1, true)`, string(b)); err != nil {
		t.Fatalf("hasuratest: set hasura.user: %v", err)
	}
}
