package database

import (
	"context"
	"regexp"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Args are named arguments, as pgx.NamedArgs: pass them as the only argument of a statement
// whose SQL names its parameters @name. pgx.NamedArgs reads the SQL through its lexer on every
// call, which for the earn's write (a few KB of SQL, twenty parameters) was a tenth of the
// process's CPU at 32 callers (docs/benchmarks.md). Args has pgx rewrite each SQL text once,
// with the same lexer, and keeps the positional SQL and the order of the names for the next
// call. Names the SQL has but Args lacks are NULL, as with pgx.NamedArgs.
type Args map[string]any

var _ pgx.QueryRewriter = Args(nil)

// RewriteQuery implements pgx.QueryRewriter.
func (a Args) RewriteQuery(ctx context.Context, conn *pgx.Conn, sql string, args []any) (string, []any, error) {
	r, ok := rewritten(sql)
	if !ok {
		return pgx.NamedArgs(a).RewriteQuery(ctx, conn, sql, args)
	}
	args = make([]any, len(r.names))
	for i, name := range r.names {
		args[i] = a[name]
	}
	return r.sql, args, nil
}

// rewrite is a SQL text with @names as pgx rewrites it: $n in place of each name, and the
// name of each $n.
type rewrite struct {
	sql   string
	names []string
}

// rewrites caches rewrite per SQL text. The texts are the program's own (constants, and a
// few built from constants), so the cache stays as small as the code.
var rewrites sync.Map // string -> rewrite

// maybeName finds every @name in a SQL text by pgx's rule for names, and some more (in
// literals and comments, which pgx's lexer skips): each is given to pgx's rewrite as its own
// value, to learn the order.
var maybeName = regexp.MustCompile(`@([A-Za-z_][A-Za-z0-9_]*)`)

type nameOf string

// rewritten is sql's rewrite; not ok if pgx found a name maybeName did not (then pgx.NamedArgs
// does the rewrite).
func rewritten(sql string) (_ rewrite, ok bool) {
	if r, ok := rewrites.Load(sql); ok {
		return r.(rewrite), true
	}
	probe := pgx.NamedArgs{}
	for _, m := range maybeName.FindAllStringSubmatch(sql, -1) {
		probe[m[1]] = nameOf(m[1])
	}
	positional, order, _ := probe.RewriteQuery(context.Background(), nil, sql, nil) // never fails
	r := rewrite{sql: positional, names: make([]string, len(order))}
	for i, v := range order {
		name, ok := v.(nameOf)
		if !ok {
			return rewrite{}, false
		}
		r.names[i] = string(name)
	}
	rewrites.Store(sql, r)
	return r, true
}
