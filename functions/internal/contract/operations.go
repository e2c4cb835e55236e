package contract

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// CheckOperations walks every operation of the allow-listed query collections against each
// role its allow-list entry names, the way Hasura would build that role's schema from the
// table permissions and the actions: a root field the role has no permission for, a column it
// may not select or set, a relationship that does not exist or leads to a table the role may
// not select, or an argument the field does not take is a Problem. Hasura would refuse such an
// operation at run time (or mark the metadata inconsistent), and the app would break only in
// staging. globalRoles are the roles a global entry applies to.
func CheckOperations(m *Metadata, cat *Catalog, globalRoles []string) []Problem {
	var ps problems
	collections := map[string]*QueryCollection{}
	for i := range m.QueryCollections {
		c := &m.QueryCollections[i]
		if collections[c.Name] != nil {
			ps.add("query collection "+c.Name, "is defined twice")
		}
		collections[c.Name] = c
	}
	listed := map[string]bool{}
	for _, e := range m.AllowList {
		where := "allow list entry " + e.Collection
		c := collections[e.Collection]
		if c == nil {
			ps.add(where, "names no collection of query_collections.yaml")
			continue
		}
		listed[e.Collection] = true
		roles := globalRoles
		if e.Scope != nil && !e.Scope.Global {
			roles = e.Scope.Roles
			if len(roles) == 0 {
				ps.add(where, "is scoped to no role")
			}
		}
		for _, q := range c.Definition.Queries {
			doc, err := parser.ParseQuery(&ast.Source{Name: q.Name, Input: q.Query})
			if err != nil {
				ps.add("query collection "+c.Name+", operation "+q.Name, "does not parse: %v", err)
				continue
			}
			if len(doc.Operations) != 1 {
				ps.add("query collection "+c.Name+", operation "+q.Name, "holds %d operations, want one", len(doc.Operations))
				continue
			}
			for _, role := range roles {
				w := &opWalker{m: m, cat: cat, role: role, doc: doc, ps: &ps,
					where: fmt.Sprintf("query collection %s, operation %s, role %s", c.Name, q.Name, role)}
				w.operation(doc.Operations[0])
			}
		}
	}
	for _, c := range m.QueryCollections {
		if !listed[c.Name] {
			ps.add("query collection "+c.Name, "is in no allow list entry, so no role may run it")
		}
	}
	return ps
}

type opWalker struct {
	m     *Metadata
	cat   *Catalog
	role  string
	doc   *ast.QueryDocument
	ps    *problems
	where string
}

func (w *opWalker) add(path, format string, args ...any) {
	w.ps.add(w.where, path+": "+format, args...)
}

// fields flattens a selection set through fragments; __typename is always allowed.
func (w *opWalker) fields(set ast.SelectionSet, visiting map[string]bool) []*ast.Field {
	var out []*ast.Field
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if s.Name != "__typename" {
				out = append(out, s)
			}
		case *ast.InlineFragment:
			out = append(out, w.fields(s.SelectionSet, visiting)...)
		case *ast.FragmentSpread:
			f := w.doc.Fragments.ForName(s.Name)
			if f == nil || visiting[s.Name] {
				w.add("..."+s.Name, "is no fragment of the document (or spreads itself)")
				continue
			}
			visiting[s.Name] = true
			out = append(out, w.fields(f.SelectionSet, visiting)...)
			delete(visiting, s.Name)
		}
	}
	return out
}

func (w *opWalker) operation(op *ast.OperationDefinition) {
	kind := string(op.Operation)
	for _, f := range w.fields(op.SelectionSet, map[string]bool{}) {
		if f.Name == "__schema" || f.Name == "__type" {
			w.add(f.Name, "introspection is not an app operation")
			continue
		}
		if w.action(kind, f) {
			continue
		}
		w.tableRoot(kind, f)
	}
}

// action checks f as an action root field; false when no action of that kind has its name.
func (w *opWalker) action(kind string, f *ast.Field) bool {
	for _, a := range w.m.Actions {
		if a.Name != f.Name {
			continue
		}
		def := w.actionField(a.Name)
		if def == nil || (kind == "query") != (def.root == "Query") {
			return false
		}
		if !slices.ContainsFunc(a.Permissions, func(p ActionPermission) bool { return p.Role == w.role }) {
			w.add(f.Name, "the role may not call action %s", a.Name)
			return true
		}
		for _, arg := range f.Arguments {
			if def.field.Arguments.ForName(arg.Name) == nil {
				w.add(f.Name, "action %s takes no argument %s", a.Name, arg.Name)
			}
		}
		w.outputObject(f.Name, namedType(def.field.Type), f.SelectionSet)
		return true
	}
	return false
}

type sdlField struct {
	root  string
	field *ast.FieldDefinition
}

func (w *opWalker) actionField(name string) *sdlField {
	if w.m.Schema == nil {
		return nil
	}
	for _, d := range slices.Concat(w.m.Schema.Definitions, w.m.Schema.Extensions) {
		if d.Name != "Query" && d.Name != "Mutation" {
			continue
		}
		if fd := d.Fields.ForName(name); fd != nil {
			return &sdlField{root: d.Name, field: fd}
		}
	}
	return nil
}

// outputObject checks a selection of an action's output type (actions.graphql).
func (w *opWalker) outputObject(path, typeName string, set ast.SelectionSet) {
	var def *ast.Definition
	for _, d := range w.m.Schema.Definitions {
		if d.Name == typeName && d.Kind == ast.Object {
			def = d
		}
	}
	if def == nil {
		if len(set) > 0 {
			w.add(path, "%s is a scalar and has no fields to select", typeName)
		}
		return
	}
	for _, f := range w.fields(set, map[string]bool{}) {
		fd := def.Fields.ForName(f.Name)
		if fd == nil {
			w.add(path+"."+f.Name, "%s has no field %s", typeName, f.Name)
			continue
		}
		w.outputObject(path+"."+f.Name, namedType(fd.Type), f.SelectionSet)
	}
}

// tableRoot checks f as one of the root fields Hasura generates for a table.
func (w *opWalker) tableRoot(kind string, f *ast.Field) {
	type root struct {
		suffix string
		ok     func(*Table) bool
		check  func(*Table, *ast.Field)
	}
	sel := func(t *Table) bool { _, ok := w.selectPerm(t); return ok }
	agg := func(t *Table) bool { p, ok := w.selectPerm(t); return ok && p.AllowAggregations }
	upd := func(t *Table) bool { _, ok := w.updatePerm(t); return ok }
	var roots []root
	switch kind {
	case "query", "subscription":
		roots = []root{
			{"_by_pk", sel, w.byPK},
			{"_aggregate", agg, w.aggregate},
			{"", sel, w.list},
		}
	case "mutation":
		roots = []root{
			{"update_*_by_pk", upd, w.updateByPK},
			{"update_*", upd, w.update},
		}
	}
	for _, r := range roots {
		for si := range w.m.Sources {
			for ti := range w.m.Sources[si].Tables {
				t := &w.m.Sources[si].Tables[ti]
				name := t.Table.Name + r.suffix
				if strings.Contains(r.suffix, "*") {
					name = strings.Replace(r.suffix, "*", t.Table.Name, 1)
				}
				if name != f.Name {
					continue
				}
				if !r.ok(t) {
					w.add(f.Name, "the role has no permission for %s on table %s", kind, t.Table)
					return
				}
				r.check(t, f)
				return
			}
		}
	}
	w.add(f.Name, "is no %s root field Hasura generates from this metadata (table, _by_pk, _aggregate, update_, or an action)", kind)
}

func (w *opWalker) selectPerm(t *Table) (SelectPermission, bool) {
	for _, p := range t.SelectPermissions {
		if p.Role == w.role {
			return p.Permission, true
		}
	}
	return SelectPermission{}, false
}

func (w *opWalker) updatePerm(t *Table) (UpdatePermission, bool) {
	for _, p := range t.UpdatePermissions {
		if p.Role == w.role {
			return p.Permission, true
		}
	}
	return UpdatePermission{}, false
}

func (w *opWalker) list(t *Table, f *ast.Field) {
	w.arguments(f.Name, t, f, "where", "order_by", "limit", "offset", "distinct_on")
	w.selection(f.Name, t, f.SelectionSet)
}

func (w *opWalker) byPK(t *Table, f *ast.Field) {
	for _, a := range f.Arguments {
		w.column(f.Name+"("+a.Name+")", t, a.Name)
	}
	w.selection(f.Name, t, f.SelectionSet)
}

func (w *opWalker) aggregate(t *Table, f *ast.Field) {
	w.arguments(f.Name, t, f, "where", "order_by", "limit", "offset", "distinct_on")
	for _, g := range w.fields(f.SelectionSet, map[string]bool{}) {
		switch g.Name {
		case "nodes":
			w.selection(f.Name+".nodes", t, g.SelectionSet)
		case "aggregate":
			for _, h := range w.fields(g.SelectionSet, map[string]bool{}) {
				for _, c := range w.fields(h.SelectionSet, map[string]bool{}) {
					w.column(f.Name+".aggregate."+h.Name+"."+c.Name, t, c.Name)
				}
			}
		default:
			w.add(f.Name+"."+g.Name, "an aggregate has only nodes and aggregate")
		}
	}
}

func (w *opWalker) updateByPK(t *Table, f *ast.Field) {
	w.mutationArgs(f, t, "pk_columns")
	w.selection(f.Name, t, f.SelectionSet)
}

func (w *opWalker) update(t *Table, f *ast.Field) {
	w.mutationArgs(f, t, "where")
	for _, g := range w.fields(f.SelectionSet, map[string]bool{}) {
		switch g.Name {
		case "affected_rows":
		case "returning":
			w.selection(f.Name+".returning", t, g.SelectionSet)
		default:
			w.add(f.Name+"."+g.Name, "a mutation response has only affected_rows and returning")
		}
	}
}

// mutationArgs checks an update's arguments: the columns it sets must be the role's update
// columns; the row it picks is read through the select permission.
func (w *opWalker) mutationArgs(f *ast.Field, t *Table, picker string) {
	p, _ := w.updatePerm(t)
	for _, a := range f.Arguments {
		switch a.Name {
		case picker:
			if picker == "where" {
				w.boolExp(f.Name+"(where)", t, a.Value)
			} else {
				w.objectKeys(f.Name+"("+a.Name+")", a.Value, func(path, k string) { w.column(path, t, k) })
			}
		case "_set", "_inc":
			w.objectKeys(f.Name+"("+a.Name+")", a.Value, func(path, k string) {
				if !p.Columns.All && !slices.Contains(p.Columns.Names, k) {
					w.add(path, "the role may not update column %s of %s", k, t.Table)
				}
			})
		default:
			w.add(f.Name, "takes no argument %s", a.Name)
		}
	}
}

func (w *opWalker) arguments(path string, t *Table, f *ast.Field, allowed ...string) {
	for _, a := range f.Arguments {
		if !slices.Contains(allowed, a.Name) {
			w.add(path, "takes no argument %s", a.Name)
			continue
		}
		switch a.Name {
		case "where":
			w.boolExp(path+"(where)", t, a.Value)
		case "order_by":
			w.orderBy(path+"(order_by)", t, a.Value)
		case "distinct_on":
			if a.Value.Kind == ast.EnumValue {
				w.column(path+"(distinct_on)", t, a.Value.Raw)
			}
		}
	}
}

// objectKeys calls fn for each key of an object literal (a variable is not looked into).
func (w *opWalker) objectKeys(path string, v *ast.Value, fn func(path, key string)) {
	if v == nil || v.Kind != ast.ObjectValue {
		return
	}
	for _, c := range v.Children {
		fn(path+"."+c.Name, c.Name)
	}
}

// boolExp checks a where argument: each key an operator, a selectable column or a
// relationship to a table the role may select.
func (w *opWalker) boolExp(path string, t *Table, v *ast.Value) {
	if v == nil {
		return
	}
	switch v.Kind {
	case ast.ListValue:
		for _, c := range v.Children {
			w.boolExp(path, t, c.Value)
		}
		return
	case ast.ObjectValue:
	default:
		return
	}
	for _, c := range v.Children {
		switch c.Name {
		case "_and", "_or", "_not":
			w.boolExp(path+"."+c.Name, t, c.Value)
			continue
		}
		if target, ok := w.relationship(path+"."+c.Name, t, c.Name); ok {
			w.boolExp(path+"."+c.Name, target, c.Value)
			continue
		} else if w.isRelationship(t, c.Name) {
			continue // reported by relationship
		}
		w.column(path+"."+c.Name, t, c.Name)
	}
}

func (w *opWalker) orderBy(path string, t *Table, v *ast.Value) {
	if v == nil {
		return
	}
	switch v.Kind {
	case ast.ListValue:
		for _, c := range v.Children {
			w.orderBy(path, t, c.Value)
		}
	case ast.ObjectValue:
		for _, c := range v.Children {
			if target, ok := w.relationship(path+"."+c.Name, t, c.Name); ok {
				w.orderBy(path+"."+c.Name, target, c.Value)
			} else if !w.isRelationship(t, c.Name) {
				w.column(path+"."+c.Name, t, c.Name)
			}
		}
	}
}

// selection checks the fields selected from rows of t.
func (w *opWalker) selection(path string, t *Table, set ast.SelectionSet) {
	for _, f := range w.fields(set, map[string]bool{}) {
		p := path + "." + f.Name
		if rel, ok := strings.CutSuffix(f.Name, "_aggregate"); ok && w.isArrayRelationship(t, rel) {
			if target, ok := w.relationship(p, t, rel); ok {
				if sp, _ := w.selectPerm(target); !sp.AllowAggregations {
					w.add(p, "the role may not aggregate %s", target.Table)
				} else {
					w.aggregate(target, f)
				}
			}
			continue
		}
		if w.isRelationship(t, f.Name) {
			if target, ok := w.relationship(p, t, f.Name); ok {
				if w.isArrayRelationship(t, f.Name) {
					w.arguments(p, target, f, "where", "order_by", "limit", "offset", "distinct_on")
				} else if len(f.Arguments) > 0 {
					w.add(p, "an object relationship takes no arguments")
				}
				w.selection(p, target, f.SelectionSet)
			}
			continue
		}
		if len(f.SelectionSet) > 0 {
			w.add(p, "%s is no relationship of %s", f.Name, t.Table)
			continue
		}
		w.column(p, t, f.Name)
	}
}

func (w *opWalker) isRelationship(t *Table, name string) bool {
	return slices.ContainsFunc(slices.Concat(t.ObjectRelationships, t.ArrayRelationships), func(r Relationship) bool { return r.Name == name })
}

func (w *opWalker) isArrayRelationship(t *Table, name string) bool {
	return slices.ContainsFunc(t.ArrayRelationships, func(r Relationship) bool { return r.Name == name })
}

// relationship is the table a relationship of t leads to, when it exists and the role may
// select that table: Hasura leaves the relationship out of the role's schema otherwise.
func (w *opWalker) relationship(path string, t *Table, name string) (*Table, bool) {
	if !w.isRelationship(t, name) {
		return nil, false
	}
	qt, ok := relationshipTarget(w.m, w.cat, t.Table, name)
	target, tracked := w.m.Table(qt)
	if !ok || !tracked {
		w.add(path, "relationship %s of %s leads to no tracked table", name, t.Table)
		return nil, false
	}
	if _, ok := w.selectPerm(target); !ok {
		w.add(path, "relationship %s of %s leads to %s, which the role may not select", name, t.Table, target.Table)
		return nil, false
	}
	return target, true
}

// column reports a name that is no column the role may select from t.
func (w *opWalker) column(path string, t *Table, name string) {
	p, ok := w.selectPerm(t)
	if !ok {
		w.add(path, "the role may not select %s", t.Table)
		return
	}
	if p.Columns.All {
		if w.cat != nil && !w.cat.HasColumn(t.Table, name) {
			w.add(path, "%s has no column %s", t.Table, name)
		}
		return
	}
	if !slices.Contains(p.Columns.Names, name) {
		w.add(path, "%s is no column of %s the role may select", name, t.Table)
	}
}
