package contract

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// ProductAction is one row of the product's action table (product.md).
type ProductAction struct {
	Name  string
	Query bool // a query action; otherwise a mutation
	// Roles may call the action. admin has every action in Hasura without a permission entry,
	// so it is never listed in actions.yaml.
	Roles []string
}

// CheckActionsFollowProduct reports actions that are not in the product's table or missing
// from the metadata, a query that is a mutation (or the reverse), and action permissions that
// give a role an action it must not have or withhold one it must have.
func CheckActionsFollowProduct(m *Metadata, product []ProductAction) []Problem {
	var ps problems
	fields, _ := actionFields(m, &ps)
	rows := map[string]ProductAction{}
	for _, p := range product {
		rows[p.Name] = p
	}
	seen := map[string]bool{}
	for _, a := range m.Actions {
		where := "action " + a.Name
		seen[a.Name] = true
		row, ok := rows[a.Name]
		if !ok {
			ps.add(where, "is not an action of the product")
			continue
		}
		if f, ok := fields[a.Name]; ok {
			want := "mutation"
			if row.Query {
				want = "query"
			}
			if f.Operation != want {
				ps.add(where, "is a %s in actions.graphql; the product makes it a %s", f.Operation, want)
			}
		}
		var got []string
		for _, p := range a.Permissions {
			if slices.Contains(got, p.Role) {
				ps.add(where, "lists role %s twice", p.Role)
			}
			got = append(got, p.Role)
		}
		for _, r := range got {
			switch {
			case r == "admin":
				ps.add(where, "lists role admin: admin has every action implicitly and Hasura's export never lists it")
			case !slices.Contains(row.Roles, r):
				ps.add(where, "role %s must not have this action (the product gives it to %s)", r, strings.Join(row.Roles, ", "))
			}
		}
		for _, r := range row.Roles {
			if r != "admin" && !slices.Contains(got, r) {
				ps.add(where, "role %s must have this action, but actions.yaml gives it no permission", r)
			}
		}
	}
	for _, p := range product {
		if !seen[p.Name] {
			ps.add("action "+p.Name, "is an action of the product but not in actions.yaml")
		}
	}
	return ps
}

// Policy is what the product says about table permissions, in a form the metadata can be
// checked against.
type Policy struct {
	// Roles are the only roles the metadata may name (admin is implicit).
	Roles []string
	// SessionVariables are the only session variables the tokens carry.
	SessionVariables []string
	// Writes are the only insert, update and delete permissions allowed, with the columns each
	// may set. Everything else is written by the functions (or admin) only.
	Writes []WriteGrant
	// Owned rows: every permission of Role on Table must pin Column to X-Hasura-User-Id.
	Owned []Ownership
	// Private tables Role must not read at all.
	Private []Private
	// Lists that grow without bound: every select permission on these tables needs a limit of
	// at most MaxLimit.
	Limited  []string
	MaxLimit int
	// Readable tables: each role of Roles must have a select permission on Table that reads
	// Columns; and every select permission on it (of any role) must hold each of Filter in its
	// filter, as the whole filter or as a term of its top-level _and.
	Readable []Readable
	// AdminOnly columns no role of the product may read (admin reads everything).
	AdminOnly []TableColumns
}

type Readable struct {
	Table   string // in schema public
	Roles   []string
	Columns []string
	Filter  []BoolExp
}

type TableColumns struct {
	Table   string // in schema public
	Columns []string
}

type WriteGrant struct {
	Table   string // in schema public
	Op      string // insert, update or delete
	Role    string
	Columns []string
}

type Ownership struct {
	Role, Table, Column string
}

type Private struct {
	Role   string
	Tables []string
}

// UserIDVariable is the session variable that names the caller (the Cognito sub).
const UserIDVariable = "X-Hasura-User-Id"

// CheckPolicy reports table permissions that break the policy.
func CheckPolicy(m *Metadata, p Policy) []Problem {
	var ps problems
	for _, a := range m.Actions {
		for _, perm := range a.Permissions {
			if perm.Role != "admin" && !slices.Contains(p.Roles, perm.Role) {
				ps.add("action "+a.Name, "names role %s, which is not a role of the product (%s)", perm.Role, strings.Join(p.Roles, ", "))
			}
		}
	}
	for _, src := range m.Sources {
		for _, t := range src.Tables {
			name := t.Table.Name
			if t.Table.Schema != "public" {
				name = t.Table.String()
			}
			type perm struct {
				op, role     string
				columns      *Columns
				exps         map[string]BoolExp
				set          map[string]any
				limit        *int
				aggregations bool
			}
			var perms []perm
			for _, x := range t.SelectPermissions {
				perms = append(perms, perm{"select", x.Role, &x.Permission.Columns, map[string]BoolExp{"filter": x.Permission.Filter}, nil, x.Permission.Limit, x.Permission.AllowAggregations})
			}
			for _, x := range t.InsertPermissions {
				perms = append(perms, perm{"insert", x.Role, &x.Permission.Columns, map[string]BoolExp{"check": x.Permission.Check}, x.Permission.Set, nil, false})
			}
			for _, x := range t.UpdatePermissions {
				perms = append(perms, perm{"update", x.Role, &x.Permission.Columns, map[string]BoolExp{"filter": x.Permission.Filter, "check": x.Permission.Check}, x.Permission.Set, nil, false})
			}
			for _, x := range t.DeletePermissions {
				perms = append(perms, perm{"delete", x.Role, nil, map[string]BoolExp{"filter": x.Permission.Filter}, nil, nil, false})
			}
			for _, pm := range perms {
				where := fmt.Sprintf("table %s, %s permission of role %s", t.Table, pm.op, pm.role)
				if !slices.Contains(p.Roles, pm.role) {
					ps.add(where, "%s is not a role of the product (%s)", pm.role, strings.Join(p.Roles, ", "))
				}
				for _, key := range sortedKeys(pm.exps) {
					for _, v := range sessionVariables(map[string]any(pm.exps[key])) {
						if !containsFold(p.SessionVariables, v) {
							ps.add(where, "%s uses session variable %s, which the tokens do not carry (%s)", key, v, strings.Join(p.SessionVariables, ", "))
						}
					}
				}
				for _, v := range sessionVariables(pm.set) {
					if !containsFold(p.SessionVariables, v) {
						ps.add(where, "set uses session variable %s, which the tokens do not carry", v)
					}
				}
				if pm.op != "select" {
					checkWrite(&ps, where, p, name, pm.op, pm.role, pm.columns)
				}
				for _, o := range p.Owned {
					if o.Role != pm.role || o.Table != name {
						continue
					}
					if !pinsToCaller(pm.exps["filter"], o.Column) && !pinsToCaller(pm.exps["check"], o.Column) {
						ps.add(where, "must limit rows to the caller's own ({%s: {_eq: %s}})", o.Column, UserIDVariable)
					}
				}
				for _, pr := range p.Private {
					if pr.Role == pm.role && slices.Contains(pr.Tables, name) {
						ps.add(where, "%s must not read %s at all", pm.role, name)
					}
				}
				if pm.op == "select" {
					checkRead(&ps, where, p, name, pm.exps["filter"], pm.columns)
				}
				if pm.op == "select" && slices.Contains(p.Limited, name) {
					if pm.limit == nil || *pm.limit < 1 || *pm.limit > p.MaxLimit {
						ps.add(where, "needs a limit between 1 and %d: %s grows without bound", p.MaxLimit, name)
					}
				}
			}
			for _, r := range p.Readable {
				if r.Table != name {
					continue
				}
				for _, role := range r.Roles {
					i := slices.IndexFunc(t.SelectPermissions, func(x RolePermission[SelectPermission]) bool { return x.Role == role })
					if i < 0 {
						ps.add(fmt.Sprintf("table %s", t.Table), "role %s must read %s, but it has no select permission", role, name)
						continue
					}
					cols := t.SelectPermissions[i].Permission.Columns
					for _, c := range r.Columns {
						if !cols.All && !slices.Contains(cols.Names, c) {
							ps.add(fmt.Sprintf("table %s, select permission of role %s", t.Table, role), "must read column %s", c)
						}
					}
				}
			}
		}
	}
	return ps
}

// checkRead reports a select permission on table that reads an admin-only column, or whose
// filter lacks a term the policy requires of every reader of the table.
func checkRead(ps *problems, where string, p Policy, table string, filter BoolExp, cols *Columns) {
	for _, a := range p.AdminOnly {
		if a.Table != table {
			continue
		}
		for _, c := range a.Columns {
			if cols.All || slices.Contains(cols.Names, c) {
				ps.add(where, "reads column %s, which only admin may read", c)
			}
		}
	}
	for _, r := range p.Readable {
		if r.Table != table {
			continue
		}
		for _, term := range r.Filter {
			if !holdsTerm(filter, term) {
				ps.add(where, "filter must hold %s (the whole filter or a term of its _and)", termText(term))
			}
		}
	}
}

// holdsTerm says whether exp is term, or one of the terms of its top-level _and is.
func holdsTerm(exp, term BoolExp) bool {
	if exp == nil {
		return false
	}
	if reflect.DeepEqual(map[string]any(exp), map[string]any(term)) {
		return true
	}
	terms, _ := exp["_and"].([]any)
	for _, t := range terms {
		if sub, ok := t.(map[string]any); ok && reflect.DeepEqual(sub, map[string]any(term)) {
			return true
		}
	}
	return false
}

func termText(term BoolExp) string {
	b, err := json.Marshal(term)
	if err != nil {
		return fmt.Sprint(map[string]any(term))
	}
	return string(b)
}

func checkWrite(ps *problems, where string, p Policy, table, op, role string, cols *Columns) {
	i := slices.IndexFunc(p.Writes, func(g WriteGrant) bool { return g.Table == table && g.Op == op && g.Role == role })
	if i < 0 {
		ps.add(where, "only the functions (and admin) may %s %s", op, table)
		return
	}
	if cols == nil {
		return
	}
	if cols.All {
		ps.add(where, "allows every column; it may only write %s", strings.Join(p.Writes[i].Columns, ", "))
		return
	}
	for _, c := range cols.Names {
		if !slices.Contains(p.Writes[i].Columns, c) {
			ps.add(where, "may not write column %s (only %s)", c, strings.Join(p.Writes[i].Columns, ", "))
		}
	}
}

// pinsToCaller says whether exp, or one of the terms of its top-level _and, is
// {column: {_eq: X-Hasura-User-Id}}.
func pinsToCaller(exp BoolExp, column string) bool {
	if exp == nil {
		return false
	}
	if ops, ok := exp[column].(map[string]any); ok {
		if v, ok := ops["_eq"].(string); ok && strings.EqualFold(v, UserIDVariable) {
			return true
		}
	}
	terms, _ := exp["_and"].([]any)
	for _, term := range terms {
		if sub, ok := term.(map[string]any); ok && pinsToCaller(sub, column) {
			return true
		}
	}
	return false
}

// sessionVariables lists every string value of v that names a session variable.
func sessionVariables(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if isSessionVariable(v) {
				out = append(out, v)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, k := range sortedKeys(v) {
				walk(v[k])
			}
		case BoolExp:
			walk(map[string]any(v))
		}
	}
	walk(v)
	return out
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(e string) bool { return strings.EqualFold(e, s) })
}
