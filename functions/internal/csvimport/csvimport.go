package csvimport

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// FieldError is one problem with a file, at its line and field.
type FieldError struct {
	File  string `json:"file"`
	Line  int    `json:"line"`
	Field string `json:"field,omitempty"`
	Msg   string `json:"message"`
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// InvalidError lists every problem of a file; nothing was written.
type InvalidError struct{ Problems []FieldError }

func (e *InvalidError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return fmt.Sprintf("%d problems, nothing written:\n%s", len(e.Problems), strings.Join(msgs, "\n"))
}
func (e *InvalidError) ErrorCode() string { return "invalid_csv" }

// Details are the problems, for --json.
func (e *InvalidError) Details() any { return e.Problems }

// Row is a row of the file: the columns it sets, in header order, with their values (nil
// for NULL, and for a cell that is not valid).
type Row struct {
	Line    int
	Columns []string
	Values  []*string
	badKey  bool // the key's cell is not valid: the row is neither new nor known
}

func (r Row) value(col string) *string {
	if i := slices.Index(r.Columns, col); i >= 0 {
		return r.Values[i]
	}
	return nil
}

// File is a parsed file: its rows and every problem found without the database.
type File struct {
	Name     string
	Header   []string
	Rows     []Row
	Problems []FieldError
}

// Parse reads a whole file and checks each cell. A header that cannot be used, or no rows,
// is an *InvalidError; the problems of the rows are in File.Problems, for Apply to list with
// those only the database can tell.
func Parse(t Table, file string, in io.Reader) (*File, error) {
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = 0
	var problems []FieldError
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the file is empty: the first line names the columns")
		}
		return nil, &InvalidError{[]FieldError{{File: file, Line: 1, Msg: err.Error()}}}
	}
	var cols []column
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		header[i] = h
		c, ok := t.column(h)
		switch {
		case !ok:
			problems = append(problems, FieldError{File: file, Line: 1, Field: h, Msg: fmt.Sprintf("is not a column of %s", t.Name)})
		case slices.Index(header[:i], h) >= 0:
			problems = append(problems, FieldError{File: file, Line: 1, Field: h, Msg: "is named twice"})
		}
		cols = append(cols, c)
	}
	if !slices.Contains(header, t.Key) && !t.KeyMayBeEmpty {
		problems = append(problems, FieldError{File: file, Line: 1, Field: t.Key, Msg: "is required: rows are matched by it"})
	}
	if len(problems) > 0 {
		return nil, &InvalidError{problems}
	}
	f := &File{Name: file, Header: header}
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			f.Problems = append(f.Problems, FieldError{File: file, Line: line, Msg: err.Error()})
			if pe == nil || !errors.Is(pe.Err, csv.ErrFieldCount) {
				break
			}
			continue
		}
		row := Row{Line: line, Columns: header, Values: make([]*string, len(cols))}
		for i, c := range cols {
			if c.name == t.Key && t.KeyMayBeEmpty && strings.TrimSpace(rec[i]) == "" {
				continue // a new row
			}
			v, err := c.parse(rec[i])
			if err != nil {
				f.Problems = append(f.Problems, FieldError{File: file, Line: line, Field: c.name, Msg: err.Error()})
				row.badKey = row.badKey || c.name == t.Key
			}
			row.Values[i] = v
		}
		if k := row.value(t.Key); k != nil {
			if first, dup := seen[*k]; dup {
				f.Problems = append(f.Problems, FieldError{File: file, Line: line, Field: t.Key, Msg: fmt.Sprintf("%s is also on line %d", *k, first)})
			}
			seen[*k] = line
		}
		f.Rows = append(f.Rows, row)
	}
	if len(f.Rows) == 0 && len(f.Problems) == 0 {
		return nil, &InvalidError{[]FieldError{{File: file, Line: 2, Msg: "no rows after the header"}}}
	}
	return f, nil
}

// newRowProblems are the required columns missing from the rows that are new: those without
// a key, and those whose key is not in the database (existing).
func (t Table) newRowProblems(f *File, existing map[string]bool) []FieldError {
	var problems []FieldError
	for _, r := range f.Rows {
		if r.badKey {
			continue
		}
		why := "no " + t.Key
		if k := r.value(t.Key); k != nil {
			if existing[*k] {
				continue
			}
			why = fmt.Sprintf("%s %s is not in %s", t.Key, *k, t.Name)
		}
		for _, req := range t.Required {
			if !slices.Contains(r.Columns, req) {
				problems = append(problems, FieldError{File: f.Name, Line: r.Line, Field: req, Msg: "is required for a new row (" + why + ")"})
			}
		}
	}
	return problems
}

// existingKeys are the keys of the file's rows that the table holds, locked until the
// transaction ends so that what was checked stays true.
func existingKeys(ctx context.Context, tx pgx.Tx, t Table, rows []Row) (map[string]bool, error) {
	keys := []string{}
	for _, r := range rows {
		if k := r.value(t.Key); k != nil {
			keys = append(keys, *k)
		}
	}
	found, err := tx.Query(ctx, fmt.Sprintf(`SELECT %[1]s::text FROM %[2]s WHERE %[1]s = ANY(($1::text[])::%[3]s[]) FOR UPDATE`,
		pgx.Identifier{t.Key}.Sanitize(), pgx.Identifier{t.Name}.Sanitize(), keyType(t)), keys)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(found, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	existing := make(map[string]bool, len(list))
	for _, k := range list {
		existing[k] = true
	}
	return existing, nil
}

// constraintFields maps each constraint of the table to the columns it is on, so that a row
// the database refuses is reported at its field.
func constraintFields(ctx context.Context, tx pgx.Tx, t Table) (map[string]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.conname::text, string_agg(a.attname::text, ',' ORDER BY a.attnum)
		FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
		WHERE c.conrelid = ($1::text)::regclass GROUP BY c.conname`, t.Name)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for rows.Next() {
		var name, cols string
		if err := rows.Scan(&name, &cols); err != nil {
			return nil, err
		}
		fields[name] = cols
	}
	return fields, rows.Err()
}

// Change is one field a row changes.
type Change struct {
	Field string  `json:"field"`
	From  *string `json:"from"`
	To    *string `json:"to"`
}

// Result is what one row did (or, in a dry run, would do).
type Result struct {
	Line    int      `json:"line"`
	Key     string   `json:"key"`
	Action  string   `json:"action"` // insert, update, unchanged
	Changes []Change `json:"changes"`
}

// Apply validates every row against the database and upserts them in one transaction; with
// dryRun it rolls back after reading what changed. Every problem, of a cell, of a new row
// without its required columns, or a row the database refuses (a store_id that does not
// exist, a check, a clash), is listed at its line and field in one *InvalidError, and then
// nothing is written.
func Apply(ctx context.Context, db *pgxpool.Pool, t Table, f *File, dryRun bool) ([]Result, error) {
	var results []Result
	errDry := errors.New("dry run")
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		existing, err := existingKeys(ctx, tx, t, f.Rows)
		if err != nil {
			return err
		}
		problems := append(slices.Clone(f.Problems), t.newRowProblems(f, existing)...)
		if len(problems) > 0 {
			return invalid(problems)
		}
		var fields map[string]string
		for _, r := range f.Rows {
			// Each row in a savepoint, so that one the database refuses does not hide the
			// problems of the rows after it.
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			res, err := upsert(ctx, sp, t, r)
			if err == nil {
				if err := sp.Commit(ctx); err != nil {
					return err
				}
				results = append(results, res)
				continue
			}
			var pg *pgconn.PgError
			if !errors.As(err, &pg) {
				return err
			}
			if err := sp.Rollback(ctx); err != nil {
				return err
			}
			if fields == nil {
				if fields, err = constraintFields(ctx, tx, t); err != nil {
					return err
				}
			}
			field := pg.ColumnName
			if field == "" {
				field = fields[pg.ConstraintName]
			}
			msg := pg.Message
			if pg.Detail != "" {
				msg += ": " + pg.Detail
			}
			problems = append(problems, FieldError{File: f.Name, Line: r.Line, Field: field, Msg: msg})
		}
		if len(problems) > 0 {
			return invalid(problems)
		}
		if dryRun {
			return errDry
		}
		return nil
	})
	if errors.Is(err, errDry) {
		err = nil
	}
	return results, err
}

// invalid lists problems by line, header first.
func invalid(problems []FieldError) *InvalidError {
	slices.SortStableFunc(problems, func(a, b FieldError) int { return a.Line - b.Line })
	return &InvalidError{problems}
}

func upsert(ctx context.Context, tx pgx.Tx, t Table, r Row) (Result, error) {
	res := Result{Line: r.Line, Changes: []Change{}}
	var set []string
	var args []any
	for i, name := range r.Columns {
		if name == t.Key && r.Values[i] == nil {
			continue
		}
		args = append(args, r.Values[i])
		set = append(set, name)
	}
	texts := make([]string, len(set))
	casts := make([]string, len(set))
	for i, name := range set {
		c, _ := t.column(name)
		texts[i] = name + "::text"
		casts[i] = fmt.Sprintf("($%d::text)::%s", i+1, c.kind.pgType())
	}
	var before []*string
	key := r.value(t.Key)
	if key != nil {
		res.Key = *key
		before = make([]*string, len(set))
		dest := make([]any, len(set))
		for i := range before {
			dest[i] = &before[i]
		}
		err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s = ($1::text)::%s FOR UPDATE`,
			strings.Join(texts, ", "), pgx.Identifier{t.Name}.Sanitize(), t.Key, keyType(t)), *key).Scan(dest...)
		if errors.Is(err, pgx.ErrNoRows) {
			before = nil
		} else if err != nil {
			return res, err
		}
	}
	after := make([]*string, len(set))
	dest := make([]any, len(set)+1)
	var id string
	dest[0] = &id
	for i := range after {
		dest[i+1] = &after[i]
	}
	var sql string
	if before == nil {
		res.Action = "insert"
		sql = fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s) RETURNING %s::text, %s`, t.Name,
			strings.Join(set, ", "), strings.Join(casts, ", "), t.Key, strings.Join(texts, ", "))
		if len(set) == 0 {
			sql = fmt.Sprintf(`INSERT INTO %s DEFAULT VALUES RETURNING %s::text`, t.Name, t.Key)
		}
	} else {
		assign := make([]string, len(set))
		for i, name := range set {
			assign[i] = name + " = " + casts[i]
		}
		sql = fmt.Sprintf(`UPDATE %s SET %s WHERE %s = ($%d::text)::%s RETURNING %s::text, %s`, t.Name,
			strings.Join(assign, ", "), t.Key, len(set)+1, keyType(t), t.Key, strings.Join(texts, ", "))
		args = append(args, *key)
	}
	if err := tx.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		return res, err
	}
	res.Key = id
	for i, name := range set {
		var from *string
		if before != nil {
			from = before[i]
			if eq(from, after[i]) {
				continue
			}
		}
		res.Changes = append(res.Changes, Change{Field: name, From: from, To: after[i]})
	}
	if before != nil {
		res.Action = "update"
		if len(res.Changes) == 0 {
			res.Action = "unchanged"
		}
	}
	return res, nil
}

func keyType(t Table) string {
	c, _ := t.column(t.Key)
	return c.kind.pgType()
}

func eq(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
