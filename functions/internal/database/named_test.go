package database_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

// Args rewrites as pgx.NamedArgs does, on the first call of a SQL text and on later ones.
func TestArgsRewriteAsPgxNamedArgsDo(t *testing.T) {
	ctx := context.Background()
	texts := []string{
		`SELECT @a::int + @b::int, @a::int`,                                               // a name used twice is one parameter
		`SELECT '@not_a_name', "@also_not" FROM t WHERE x = @x -- @comment`,               // literals, identifiers, comments
		`SELECT $$ @dollar $$, @_under_score1::text /* @block */, @@ , @9`,                // dollar quotes, odd @s
		`WITH o AS (INSERT INTO x VALUES (@id::uuid) RETURNING id) SELECT @missing::text`, // a name not given: NULL
		`SELECT 1`,
	}
	args := map[string]any{"a": 1, "b": 2, "x": "x", "_under_score1": "u", "id": "i", "unused": 3}
	for _, sql := range texts {
		wantSQL, wantArgs, err := pgx.NamedArgs(args).RewriteQuery(ctx, nil, sql, nil)
		if err != nil {
			t.Fatal(err)
		}
		for call := 1; call <= 2; call++ {
			gotSQL, gotArgs, err := database.Args(args).RewriteQuery(ctx, nil, sql, nil)
			if err != nil || gotSQL != wantSQL || !reflect.DeepEqual(gotArgs, wantArgs) {
				t.Errorf("call %d of %s:\n got %q %v %v\nwant %q %v", call, sql, gotSQL, gotArgs, err, wantSQL, wantArgs)
			}
		}
	}
	// Another call of a cached text takes its values from its own Args.
	_, got, _ := database.Args{"a": 10, "b": 20}.RewriteQuery(ctx, nil, texts[0], nil)
	if !reflect.DeepEqual(got, []any{10, 20}) {
		t.Errorf("second Args on the first text: %v, want [10 20]", got)
	}
}

func TestArgsRunOnPostgreSQLAloneAndInABatch(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	const sql = `SELECT @a::int + @b::int, coalesce(@none::text, 'null')`
	var sum int
	var none string
	if err := db.QueryRow(ctx, sql, database.Args{"a": 1, "b": 2}).Scan(&sum, &none); err != nil || sum != 3 || none != "null" {
		t.Fatalf("alone: %d %q %v", sum, none, err)
	}
	b := &pgx.Batch{}
	b.Queue(sql, database.Args{"a": 5, "b": 6}).QueryRow(func(r pgx.Row) error { return r.Scan(&sum, &none) })
	if err := db.SendBatch(ctx, b).Close(); err != nil || sum != 11 {
		t.Fatalf("in a batch: %d %v", sum, err)
	}
}
