package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// CheckDatabase reports every table, column and relationship the table metadata names that the
// database (cat) does not have: tracked tables, relationship columns and their foreign keys,
// permission columns, the column and relationship keys of filters and checks, preset (set)
// columns, and the columns that fire event triggers. It also reports duplicate names Hasura
// would refuse.
func CheckDatabase(m *Metadata, cat *Catalog) []Problem {
	var ps problems
	triggers := map[string]string{}
	for _, src := range m.Sources {
		seen := map[QualifiedTable]bool{}
		for i := range src.Tables {
			t := &src.Tables[i]
			where := "table " + t.Table.String()
			if seen[t.Table] {
				ps.add(where, "is tracked twice")
				continue
			}
			seen[t.Table] = true
			if _, ok := cat.Columns[t.Table]; !ok {
				ps.add(where, "does not exist in the database")
				continue
			}
			checkRelationships(&ps, m, cat, t)
			checkPermissions(&ps, m, cat, t)
			for _, et := range t.EventTriggers {
				if other, dup := triggers[et.Name]; dup {
					ps.add("event trigger "+et.Name, "is defined on both %s and %s", other, t.Table)
				}
				triggers[et.Name] = t.Table.String()
				checkTriggerColumns(&ps, cat, t.Table, et)
			}
		}
	}
	return ps
}

// CheckTracked reports tables and views of schema that the metadata does not track, except
// those named in untracked (tables the app must never see, deliberately left out).
func CheckTracked(m *Metadata, cat *Catalog, schema string, untracked []string) []Problem {
	var ps problems
	var names []string
	for t := range cat.Columns {
		if t.Schema == schema {
			names = append(names, t.Name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		t := QualifiedTable{Schema: schema, Name: name}
		if _, ok := m.Table(t); !ok && !slices.Contains(untracked, name) {
			ps.add("table "+t.String(), "exists in the database but is not tracked in the metadata (add databases/default/tables/%s_%s.yaml, or list it as deliberately untracked)", schema, name)
		}
	}
	return ps
}

func checkRelationships(ps *problems, m *Metadata, cat *Catalog, t *Table) {
	names := map[string]bool{}
	check := func(kind string, r Relationship) {
		where := fmt.Sprintf("table %s, %s relationship %s", t.Table, kind, r.Name)
		if names[r.Name] {
			ps.add(where, "the name is used twice")
		}
		names[r.Name] = true
		if cat.HasColumn(t.Table, r.Name) {
			ps.add(where, "has the name of a column of %s", t.Table)
		}
		u := r.Using
		switch {
		case u.ForeignKeyConstraintOn != nil && u.ManualConfiguration != nil:
			ps.add(where, "sets both foreign_key_constraint_on and manual_configuration")
		case u.ForeignKeyConstraintOn != nil:
			checkForeignKeyOn(ps, where, m, cat, t.Table, kind, *u.ForeignKeyConstraintOn)
		case u.ManualConfiguration != nil:
			mc := u.ManualConfiguration
			if _, ok := cat.Columns[mc.RemoteTable]; !ok {
				ps.add(where, "remote table %s does not exist in the database", mc.RemoteTable)
				return
			}
			for here, there := range mc.ColumnMapping {
				if !cat.HasColumn(t.Table, here) {
					ps.add(where, "maps column %s, which %s does not have", here, t.Table)
				}
				if !cat.HasColumn(mc.RemoteTable, there) {
					ps.add(where, "maps to column %s, which %s does not have", there, mc.RemoteTable)
				}
			}
		default:
			ps.add(where, "has neither foreign_key_constraint_on nor manual_configuration")
		}
	}
	for _, r := range t.ObjectRelationships {
		check("object", r)
	}
	for _, r := range t.ArrayRelationships {
		check("array", r)
	}
}

func checkForeignKeyOn(ps *problems, where string, m *Metadata, cat *Catalog, table QualifiedTable, kind string, f ForeignKeyOn) {
	if len(f.Columns) == 0 {
		ps.add(where, "foreign_key_constraint_on names no column")
		return
	}
	if f.Table == nil {
		if kind == "array" {
			ps.add(where, "an array relationship needs foreign_key_constraint_on {column, table}: the foreign key is on the other table")
			return
		}
		for _, c := range f.Columns {
			if !cat.HasColumn(table, c) {
				ps.add(where, "foreign_key_constraint_on names column %s, which %s does not have", c, table)
				return
			}
		}
		fks := cat.ForeignKeysOn(table, f.Columns)
		if len(fks) == 0 {
			ps.add(where, "no foreign key of %s is on (%s)", table, strings.Join(f.Columns, ", "))
			return
		}
		if _, tracked := m.Table(fks[0].RefTable); !tracked {
			ps.add(where, "points at %s, which the metadata does not track", fks[0].RefTable)
		}
		return
	}
	remote := *f.Table
	if _, ok := cat.Columns[remote]; !ok {
		ps.add(where, "remote table %s does not exist in the database", remote)
		return
	}
	if _, tracked := m.Table(remote); !tracked {
		ps.add(where, "points at %s, which the metadata does not track", remote)
	}
	for _, c := range f.Columns {
		if !cat.HasColumn(remote, c) {
			ps.add(where, "foreign_key_constraint_on names column %s, which %s does not have", c, remote)
			return
		}
	}
	if _, ok := cat.ForeignKey(remote, f.Columns, table); !ok {
		ps.add(where, "no foreign key of %s on (%s) references %s", remote, strings.Join(f.Columns, ", "), table)
	}
}

// relationshipTarget is the table a relationship of table leads to, when the metadata and the
// database agree on one.
func relationshipTarget(m *Metadata, cat *Catalog, table QualifiedTable, name string) (QualifiedTable, bool) {
	t, ok := m.Table(table)
	if !ok {
		return QualifiedTable{}, false
	}
	for _, r := range slices.Concat(t.ObjectRelationships, t.ArrayRelationships) {
		if r.Name != name {
			continue
		}
		switch u := r.Using; {
		case u.ManualConfiguration != nil:
			return u.ManualConfiguration.RemoteTable, true
		case u.ForeignKeyConstraintOn != nil && u.ForeignKeyConstraintOn.Table != nil:
			return *u.ForeignKeyConstraintOn.Table, true
		case u.ForeignKeyConstraintOn != nil:
			if fks := cat.ForeignKeysOn(table, u.ForeignKeyConstraintOn.Columns); len(fks) > 0 {
				return fks[0].RefTable, true
			}
		}
	}
	return QualifiedTable{}, false
}

func checkPermissions(ps *problems, m *Metadata, cat *Catalog, t *Table) {
	w := &expWalker{m: m, cat: cat, ps: ps}
	where := func(op, role string) string {
		return fmt.Sprintf("table %s, %s permission of role %s", t.Table, op, role)
	}
	roles := func(op string, role string, seen map[string]bool) {
		if seen[role] {
			ps.add(where(op, role), "is defined twice")
		}
		seen[role] = true
		if role == "" {
			ps.add(where(op, role), "has no role")
		}
		if role == "admin" {
			ps.add(where(op, role), "admin has every permission implicitly and Hasura refuses one for it")
		}
	}
	seen := map[string]bool{}
	for _, p := range t.SelectPermissions {
		wh := where("select", p.Role)
		roles("select", p.Role, seen)
		checkColumns(ps, wh, cat, t.Table, p.Permission.Columns)
		w.walk(wh+", filter", t.Table, map[string]any(p.Permission.Filter))
		if len(p.Permission.ComputedFields) > 0 {
			ps.add(wh, "names computed fields %v, which the metadata does not define", p.Permission.ComputedFields)
		}
		if l := p.Permission.Limit; l != nil && *l < 0 {
			ps.add(wh, "limit %d is negative", *l)
		}
	}
	seen = map[string]bool{}
	for _, p := range t.InsertPermissions {
		wh := where("insert", p.Role)
		roles("insert", p.Role, seen)
		checkColumns(ps, wh, cat, t.Table, p.Permission.Columns)
		w.walk(wh+", check", t.Table, map[string]any(p.Permission.Check))
		checkSet(ps, wh, cat, t.Table, p.Permission.Set)
	}
	seen = map[string]bool{}
	for _, p := range t.UpdatePermissions {
		wh := where("update", p.Role)
		roles("update", p.Role, seen)
		checkColumns(ps, wh, cat, t.Table, p.Permission.Columns)
		w.walk(wh+", filter", t.Table, map[string]any(p.Permission.Filter))
		if p.Permission.Check != nil {
			w.walk(wh+", check", t.Table, map[string]any(p.Permission.Check))
		}
		checkSet(ps, wh, cat, t.Table, p.Permission.Set)
	}
	seen = map[string]bool{}
	for _, p := range t.DeletePermissions {
		wh := where("delete", p.Role)
		roles("delete", p.Role, seen)
		w.walk(wh+", filter", t.Table, map[string]any(p.Permission.Filter))
	}
}

func checkColumns(ps *problems, where string, cat *Catalog, table QualifiedTable, cols Columns) {
	if cols.All {
		return
	}
	seen := map[string]bool{}
	for _, c := range cols.Names {
		if seen[c] {
			ps.add(where, "lists column %s twice", c)
		}
		seen[c] = true
		if !cat.HasColumn(table, c) {
			ps.add(where, "names column %s, which %s does not have", c, table)
		}
	}
}

func checkSet(ps *problems, where string, cat *Catalog, table QualifiedTable, set map[string]any) {
	for _, c := range sortedKeys(set) {
		if !cat.HasColumn(table, c) {
			ps.add(where, "presets column %s, which %s does not have", c, table)
		}
	}
}

func checkTriggerColumns(ps *problems, cat *Catalog, table QualifiedTable, et EventTrigger) {
	where := "event trigger " + et.Name
	d := et.Definition
	if d.Insert == nil && d.Update == nil && d.Delete == nil && !d.EnableManual {
		ps.add(where, "fires on nothing: no insert, update or delete, and enable_manual is false")
	}
	for _, op := range []struct {
		name string
		spec *TriggerOp
	}{{"insert", d.Insert}, {"update", d.Update}, {"delete", d.Delete}} {
		if op.spec == nil {
			continue
		}
		if !op.spec.Columns.All && len(op.spec.Columns.Names) == 0 {
			ps.add(where, "%s lists no columns, so it never fires", op.name)
		}
		checkColumns(ps, where+", "+op.name+" columns", cat, table, op.spec.Columns)
		if op.spec.Payload != nil {
			checkColumns(ps, where+", "+op.name+" payload", cat, table, *op.spec.Payload)
		}
	}
}

// Literal is a constant a permission compares a column with; CheckLiterals asks the database
// whether it is a value of the column's type.
type Literal struct {
	Where  string
	Table  QualifiedTable
	Column string
	Type   string
	Value  any
}

// Literals lists the constants of every permission's filter and check.
func Literals(m *Metadata, cat *Catalog) []Literal {
	var ps problems // CheckDatabase reports these
	var lits []Literal
	w := &expWalker{m: m, cat: cat, ps: &ps, lits: &lits}
	for _, src := range m.Sources {
		for _, t := range src.Tables {
			for _, p := range t.SelectPermissions {
				w.walk(fmt.Sprintf("table %s, select permission of role %s, filter", t.Table, p.Role), t.Table, map[string]any(p.Permission.Filter))
			}
			for _, p := range t.InsertPermissions {
				w.walk(fmt.Sprintf("table %s, insert permission of role %s, check", t.Table, p.Role), t.Table, map[string]any(p.Permission.Check))
			}
			for _, p := range t.UpdatePermissions {
				w.walk(fmt.Sprintf("table %s, update permission of role %s, filter", t.Table, p.Role), t.Table, map[string]any(p.Permission.Filter))
				w.walk(fmt.Sprintf("table %s, update permission of role %s, check", t.Table, p.Role), t.Table, map[string]any(p.Permission.Check))
			}
			for _, p := range t.DeletePermissions {
				w.walk(fmt.Sprintf("table %s, delete permission of role %s, filter", t.Table, p.Role), t.Table, map[string]any(p.Permission.Filter))
			}
		}
	}
	return lits
}

// CheckLiterals casts every literal to its column's type in the database, as Hasura does when
// it builds the SQL of a permission ('now()'::timestamptz, 'true'::boolean, ...).
func CheckLiterals(ctx context.Context, db Querier, lits []Literal) []Problem {
	var ps problems
	for _, l := range lits {
		text, ok := literalText(l.Value)
		if !ok {
			ps.add(l.Where, "compares %s with %v, which is not a scalar", l.Column, l.Value)
			continue
		}
		// The type name comes from the catalogue (format_type), never from the metadata.
		rows, err := db.Query(ctx, "SELECT CAST($1::text AS "+l.Type+")", text)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		if err != nil {
			ps.add(l.Where, "compares %s (%s) with %q, which Postgres does not accept as a %s: %v", l.Column, l.Type, text, l.Type, err)
		}
	}
	return ps
}

func literalText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	default:
		return "", false
	}
}

// expWalker checks a boolean expression against the database: each key is _and, _or, _not,
// _exists, a relationship (followed into its table) or a column (with comparison operators).
type expWalker struct {
	m    *Metadata
	cat  *Catalog
	ps   *problems
	lits *[]Literal // when set, constants compared with columns are collected here
}

var comparisonOps = map[string]bool{
	"_eq": true, "_neq": true, "_gt": true, "_lt": true, "_gte": true, "_lte": true,
	"_in": true, "_nin": true, "_is_null": true,
	"_like": true, "_nlike": true, "_ilike": true, "_nilike": true, "_similar": true, "_nsimilar": true,
	"_regex": true, "_nregex": true, "_iregex": true, "_niregex": true,
	"_contains": true, "_contained_in": true, "_has_key": true, "_has_keys_any": true, "_has_keys_all": true,
}

var columnComparisonOps = map[string]bool{
	"_ceq": true, "_cne": true, "_cgt": true, "_clt": true, "_cgte": true, "_clte": true,
}

// typedOps compare a column with a value of the column's own type.
var typedOps = map[string]bool{"_eq": true, "_neq": true, "_gt": true, "_lt": true, "_gte": true, "_lte": true}

func (w *expWalker) walk(where string, table QualifiedTable, exp any) {
	if exp == nil {
		return
	}
	obj, ok := exp.(map[string]any)
	if !ok {
		w.ps.add(where, "a boolean expression must be an object, not %v", exp)
		return
	}
	for _, key := range sortedKeys(obj) {
		v := obj[key]
		switch key {
		case "_and", "_or":
			list, ok := v.([]any)
			if !ok {
				w.ps.add(where, "%s takes a list", key)
				continue
			}
			for _, e := range list {
				w.walk(where, table, e)
			}
		case "_not":
			w.walk(where, table, v)
		case "_exists":
			w.walkExists(where, v)
		default:
			if strings.HasPrefix(key, "_") {
				w.ps.add(where, "%s is not an operator of a boolean expression", key)
				continue
			}
			if target, ok := relationshipTarget(w.m, w.cat, table, key); ok {
				if _, exists := w.cat.Columns[target]; exists {
					w.walk(where+" > "+key, target, v)
				}
				continue
			}
			if w.cat.HasColumn(table, key) {
				w.walkColumn(where, table, key, v)
				continue
			}
			w.ps.add(where, "names %s, which is neither a column nor a relationship of %s", key, table)
		}
	}
}

func (w *expWalker) walkExists(where string, v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		w.ps.add(where, "_exists takes {_table, _where}")
		return
	}
	raw, _ := json.Marshal(obj["_table"])
	var t QualifiedTable
	if err := t.UnmarshalJSON(raw); err != nil || t.Name == "" {
		w.ps.add(where, "_exists has no valid _table")
		return
	}
	if _, ok := w.cat.Columns[t]; !ok {
		w.ps.add(where, "_exists names table %s, which does not exist in the database", t)
		return
	}
	w.walk(where+" > _exists "+t.String(), t, obj["_where"])
}

func (w *expWalker) walkColumn(where string, table QualifiedTable, column string, v any) {
	ops, ok := v.(map[string]any)
	if !ok {
		w.literal(where, table, column, v) // {column: value} is _eq
		return
	}
	for _, op := range sortedKeys(ops) {
		val := ops[op]
		switch {
		case columnComparisonOps[op]:
			other, _ := val.(string)
			if list, ok := val.([]any); ok && len(list) > 0 {
				other, _ = list[len(list)-1].(string)
			}
			if !w.cat.HasColumn(table, other) {
				w.ps.add(where, "%s.%s compares with column %v, which %s does not have", column, op, val, table)
			}
		case !comparisonOps[op]:
			w.ps.add(where, "%s.%s is not a comparison operator Hasura knows", column, op)
		case op == "_is_null":
			if _, ok := val.(bool); !ok {
				w.ps.add(where, "%s._is_null takes true or false, not %v", column, val)
			}
		case op == "_in" || op == "_nin":
			if list, ok := val.([]any); ok {
				for _, e := range list {
					w.literal(where, table, column, e)
				}
			} else if !isSessionVariable(val) {
				w.ps.add(where, "%s.%s takes a list or a session variable", column, op)
			}
		case typedOps[op]:
			w.literal(where, table, column, val)
		}
	}
}

func (w *expWalker) literal(where string, table QualifiedTable, column string, v any) {
	if w.lits == nil || isSessionVariable(v) {
		return
	}
	*w.lits = append(*w.lits, Literal{Where: where, Table: table, Column: column, Type: w.cat.Columns[table][column], Value: v})
}

// isSessionVariable says whether v names a session variable (x-hasura-...), which Hasura
// replaces with the caller's value.
func isSessionVariable(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(strings.ToLower(s), "x-hasura-")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
