package contract

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
)

// ActionField is an action's field of Query or Mutation in actions.graphql.
type ActionField struct {
	Operation string // "query" or "mutation"
	Field     *ast.FieldDefinition
}

var rootTypes = map[string]string{"Query": "query", "Mutation": "mutation"}

// builtinScalars are GraphQL's own scalars and the Postgres scalars Hasura lets action types
// use without declaring them.
var builtinScalars = map[string]bool{
	"String": true, "Int": true, "Float": true, "Boolean": true, "ID": true,
	"uuid": true, "timestamptz": true, "timestamp": true, "date": true, "time": true, "timetz": true,
	"interval": true, "smallint": true, "integer": true, "bigint": true, "numeric": true,
	"float4": true, "float8": true, "text": true, "citext": true, "bpchar": true, "json": true, "jsonb": true,
}

// actionFields returns the fields of Query and Mutation (the CLI writes one `type Mutation`
// block per action) and the other type definitions of actions.graphql.
func actionFields(m *Metadata, ps *problems) (map[string]ActionField, map[string]*ast.Definition) {
	fields := map[string]ActionField{}
	defs := map[string]*ast.Definition{}
	if m.Schema == nil {
		ps.add("actions.graphql", "was not parsed")
		return fields, defs
	}
	for _, d := range slices.Concat(m.Schema.Definitions, m.Schema.Extensions) {
		op, root := rootTypes[d.Name]
		if !root {
			if _, dup := defs[d.Name]; dup {
				ps.add("actions.graphql", "defines type %s twice", d.Name)
			}
			defs[d.Name] = d
			continue
		}
		for _, f := range d.Fields {
			if _, dup := fields[f.Name]; dup {
				ps.add("action "+f.Name, "is defined twice in actions.graphql")
			}
			fields[f.Name] = ActionField{Operation: op, Field: f}
		}
	}
	return fields, defs
}

// CheckActionsSDL reports disagreements between actions.yaml and actions.graphql: actions in
// one and not the other, custom_types that do not list exactly the types the SDL defines (as
// the CLI writes them), type names that are not defined, types in the wrong place (an object
// as an argument, an input as an output), and a mutation that is not synchronous.
func CheckActionsSDL(m *Metadata) []Problem {
	var ps problems
	fields, defs := actionFields(m, &ps)
	declared := map[string]bool{}
	for _, a := range m.Actions {
		declared[a.Name] = true
		where := "action " + a.Name
		f, ok := fields[a.Name]
		if !ok {
			ps.add(where, "is in actions.yaml but not a field of Query or Mutation in actions.graphql")
			continue
		}
		switch k := a.Definition.Kind; {
		case f.Operation == "mutation" && k != "synchronous":
			ps.add(where, "kind is %q; the handlers answer synchronously, so it must be synchronous", k)
		case f.Operation == "query" && k != "" && k != "synchronous":
			ps.add(where, "kind is %q; a query action is always synchronous", k)
		}
	}
	for _, name := range sortedKeys(fields) {
		if !declared[name] {
			ps.add("action "+name, "is in actions.graphql but not in actions.yaml")
		}
	}

	want := map[ast.DefinitionKind][]string{}
	for _, name := range sortedKeys(defs) {
		want[defs[name].Kind] = append(want[defs[name].Kind], name)
	}
	for _, ct := range []struct {
		key   string
		kind  ast.DefinitionKind
		names []CustomTypeName
	}{
		{"input_objects", ast.InputObject, m.CustomTypes.InputObjects},
		{"objects", ast.Object, m.CustomTypes.Objects},
		{"enums", ast.Enum, m.CustomTypes.Enums},
		{"scalars", ast.Scalar, m.CustomTypes.Scalars},
	} {
		var got []string
		for _, n := range ct.names {
			got = append(got, n.Name)
		}
		sort.Strings(got)
		for _, n := range got {
			if !slices.Contains(want[ct.kind], n) {
				ps.add("actions.yaml custom_types."+ct.key, "lists %s, which actions.graphql does not define as %s", n, strings.ToLower(string(ct.kind)))
			}
		}
		for _, n := range want[ct.kind] {
			if !slices.Contains(got, n) {
				ps.add("actions.yaml custom_types."+ct.key, "does not list %s, which actions.graphql defines", n)
			}
		}
	}
	for _, k := range []ast.DefinitionKind{ast.Interface, ast.Union} {
		for _, n := range want[k] {
			ps.add("actions.graphql", "defines %s %s; action types are objects, inputs, enums and scalars", strings.ToLower(string(k)), n)
		}
	}

	kindOf := func(name string) (ast.DefinitionKind, bool) {
		if builtinScalars[name] {
			return ast.Scalar, true
		}
		if d, ok := defs[name]; ok {
			return d.Kind, true
		}
		return "", false
	}
	checkRef := func(where string, t *ast.Type, allowed ...ast.DefinitionKind) {
		name := namedType(t)
		kind, ok := kindOf(name)
		switch {
		case !ok:
			ps.add(where, "type %s is neither defined in actions.graphql nor a scalar Hasura knows", name)
		case !slices.Contains(allowed, kind):
			ps.add(where, "type %s is %s, which cannot be used here", name, strings.ToLower(string(kind)))
		}
	}
	for _, name := range sortedKeys(fields) {
		f := fields[name]
		where := "action " + name
		for _, a := range f.Field.Arguments {
			checkRef(fmt.Sprintf("%s, argument %s", where, a.Name), a.Type, ast.InputObject, ast.Scalar, ast.Enum)
		}
		checkRef(where+", output", f.Field.Type, ast.Object, ast.Scalar, ast.Enum)
	}
	for _, name := range sortedKeys(defs) {
		d := defs[name]
		for _, f := range d.Fields {
			where := fmt.Sprintf("type %s, field %s", name, f.Name)
			switch d.Kind {
			case ast.InputObject:
				checkRef(where, f.Type, ast.InputObject, ast.Scalar, ast.Enum)
			case ast.Object:
				checkRef(where, f.Type, ast.Object, ast.Scalar, ast.Enum)
				if len(f.Arguments) > 0 {
					ps.add(where, "has arguments; fields of action output types take none")
				}
			}
		}
	}
	return ps
}

func namedType(t *ast.Type) string {
	for t.Elem != nil {
		t = t.Elem
	}
	return t.NamedType
}

// GoScalars names the GraphQL scalars a Go type with its own JSON encoding stands for, e.g.
// time.Time: timestamptz.
type GoScalars map[reflect.Type][]string

// CheckActionTypes compares each action route's Go input and output types with the action's
// argument and output type in actions.graphql: the field names (json names) both ways, their
// nullability (a Go pointer is a nullable GraphQL type and a non-pointer a non-null one, in
// inputs and outputs), and their scalars. An action route with no Input takes no arguments;
// one with an Input takes exactly one, `input: <Input>!`.
func CheckActionTypes(m *Metadata, table []routes.Route, scalars GoScalars) []Problem {
	var ps problems
	fields, defs := actionFields(m, &ps)
	c := &typeComparer{defs: defs, scalars: scalars, ps: &ps}
	for _, r := range table {
		if r.Kind != routes.Action {
			continue
		}
		f, ok := fields[r.Name]
		if !ok {
			continue // CheckRoutes and CheckActionsSDL report it
		}
		where := "action " + r.Name
		args := f.Field.Arguments
		switch {
		case r.Input == nil && len(args) > 0:
			ps.add(where, "takes arguments in actions.graphql, but its route decodes none")
		case r.Input != nil && (len(args) != 1 || args[0].Name != "input"):
			ps.add(where, "must take exactly one argument, input: %s!, which its route decodes", goTypeName(r.Input))
		case r.Input != nil:
			if !args[0].Type.NonNull {
				ps.add(where, "argument input must be non-null (%s!)", args[0].Type.NamedType)
			}
			c.object(where+", input", r.Input, args[0].Type, true)
		}
		if r.Output == nil {
			ps.add(where, "its route declares no output type")
			continue
		}
		c.object(where+", output", r.Output, f.Field.Type, false)
	}
	return ps
}

type typeComparer struct {
	defs    map[string]*ast.Definition
	scalars GoScalars
	ps      *problems
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// object compares a Go struct with a GraphQL object or input object type (top level: its
// nullability is Hasura's business, not the Go type's).
func (c *typeComparer) object(where string, goT reflect.Type, gt *ast.Type, input bool) {
	for goT.Kind() == reflect.Pointer {
		goT = goT.Elem()
	}
	if gt.Elem != nil {
		c.ps.add(where, "is a list in actions.graphql; the route's Go type %s is not", goTypeName(goT))
		return
	}
	c.named(where, goT, gt.NamedType, input, map[reflect.Type]bool{})
}

func (c *typeComparer) named(where string, goT reflect.Type, name string, input bool, visiting map[reflect.Type]bool) {
	def, defined := c.defs[name]
	if !defined || def.Kind == ast.Scalar || def.Kind == ast.Enum {
		c.scalar(where, goT, name, defined && def.Kind == ast.Enum)
		return
	}
	want := ast.Object
	if input {
		want = ast.InputObject
	}
	if def.Kind != want {
		c.ps.add(where, "type %s is %s, want %s", name, strings.ToLower(string(def.Kind)), strings.ToLower(string(want)))
		return
	}
	if goT.Kind() != reflect.Struct || c.hasOwnEncoding(goT) {
		c.ps.add(where, "GraphQL type %s is an object, but Go type %s is not a plain struct", name, goTypeName(goT))
		return
	}
	if visiting[goT] {
		return
	}
	visiting[goT] = true
	defer delete(visiting, goT)

	side := "output"
	if input {
		side = "input"
	}
	goFields := jsonFields(goT)
	gqlFields := map[string]*ast.FieldDefinition{}
	for _, f := range def.Fields {
		gqlFields[f.Name] = f
	}
	for _, f := range def.Fields {
		if _, ok := goFields[f.Name]; !ok {
			c.ps.add(where, "%s field %s.%s is in actions.graphql, but Go type %s has no field with json name %q (it has %s)",
				side, name, f.Name, goTypeName(goT), f.Name, strings.Join(sortedKeys(goFields), ", "))
		}
	}
	for _, jn := range sortedKeys(goFields) {
		gf := goFields[jn]
		f, ok := gqlFields[jn]
		if !ok {
			c.ps.add(where, "Go field %s.%s (json %q) is not a field of %s %s in actions.graphql",
				goTypeName(goT), gf.name, jn, side, name)
			continue
		}
		c.field(where, name+"."+jn, gf, f.Type, input, visiting)
	}
}

type goField struct {
	name      string // the Go name
	typ       reflect.Type
	omitEmpty bool
	asString  bool
}

// jsonFields lists the fields encoding/json writes and reads for struct t, by json name.
func jsonFields(t reflect.Type) map[string]goField {
	out := map[string]goField{}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && !hasTag {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, shadowed := out[k]; !shadowed {
						out[k] = v
					}
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out[name] = goField{name: sf.Name, typ: ft,
			omitEmpty: slices.Contains(strings.Split(opts, ","), "omitempty"),
			asString:  slices.Contains(strings.Split(opts, ","), "string")}
	}
	return out
}

func (c *typeComparer) field(where, path string, gf goField, gt *ast.Type, input bool, visiting map[reflect.Type]bool) {
	goT := gf.typ
	goNullable := false
	if goT.Kind() == reflect.Pointer {
		goNullable = true
		goT = goT.Elem()
	}
	switch {
	case goNullable && gt.NonNull:
		c.ps.add(where, "%s is non-null (%s) in actions.graphql, but Go field %s is a pointer (%s), which may be null",
			path, gt.String(), gf.name, goTypeName(gf.typ))
	case !goNullable && !gt.NonNull && goT.Kind() != reflect.Slice && goT.Kind() != reflect.Map && goT.Kind() != reflect.Interface:
		if input {
			c.ps.add(where, "%s is optional (%s) in actions.graphql, but Go field %s (%s) is not a pointer, so an omitted value cannot be told from a zero one",
				path, gt.String(), gf.name, goTypeName(gf.typ))
		} else {
			c.ps.add(where, "%s is nullable (%s) in actions.graphql, but Go field %s (%s) is never null: make it %s! or a pointer",
				path, gt.String(), gf.name, goTypeName(gf.typ), gt.NamedType)
		}
	}
	if !input && gf.omitEmpty && gt.NonNull {
		c.ps.add(where, "%s is non-null, but Go field %s has omitempty, so a zero value would be left out", path, gf.name)
	}
	if gf.asString {
		c.ps.add(where, "Go field %s has the json option string, which encodes %s as a JSON string", gf.name, goTypeName(goT))
	}
	if gt.Elem != nil {
		if goT.Kind() != reflect.Slice && goT.Kind() != reflect.Array {
			c.ps.add(where, "%s is a list in actions.graphql, but Go field %s (%s) is not", path, gf.name, goTypeName(gf.typ))
			return
		}
		c.field(where, path+"[]", goField{name: gf.name + "[]", typ: goT.Elem()}, gt.Elem, input, visiting)
		return
	}
	if (goT.Kind() == reflect.Slice && goT.Elem().Kind() != reflect.Uint8) || goT.Kind() == reflect.Array {
		c.ps.add(where, "Go field %s (%s) is a list, but %s is %s in actions.graphql", gf.name, goTypeName(gf.typ), path, gt.String())
		return
	}
	c.named(where+", "+path, goT, gt.NamedType, input, visiting)
}

func (c *typeComparer) hasOwnEncoding(t reflect.Type) bool {
	if _, ok := c.scalars[t]; ok {
		return true
	}
	pt := reflect.PointerTo(t)
	return t.Implements(jsonMarshaler) || pt.Implements(jsonMarshaler) || t.Implements(textMarshaler) || pt.Implements(textMarshaler)
}

// scalarKinds are the GraphQL scalars each Go kind encodes to.
var scalarKinds = map[reflect.Kind][]string{
	reflect.String: {"String", "ID", "uuid", "date", "text", "citext"},
	reflect.Bool:   {"Boolean"},
	reflect.Int:    {"Int", "smallint", "integer", "bigint"}, reflect.Int8: {"Int", "smallint", "integer", "bigint"},
	reflect.Int16: {"Int", "smallint", "integer", "bigint"}, reflect.Int32: {"Int", "integer", "bigint"},
	reflect.Int64: {"Int", "bigint"}, reflect.Uint8: {"Int", "smallint", "integer", "bigint"},
	reflect.Uint16: {"Int", "integer", "bigint"}, reflect.Uint32: {"Int", "bigint"},
	reflect.Float32: {"Float", "float4", "float8", "numeric"}, reflect.Float64: {"Float", "float8", "numeric"},
}

func (c *typeComparer) scalar(where string, goT reflect.Type, name string, enum bool) {
	if enum {
		if goT.Kind() != reflect.String {
			c.ps.add(where, "enum %s needs a Go string type, not %s", name, goTypeName(goT))
		}
		return
	}
	if want, ok := c.scalars[goT]; ok {
		if !slices.Contains(want, name) {
			c.ps.add(where, "is %s in actions.graphql, but Go type %s encodes as %s", name, goTypeName(goT), strings.Join(want, " or "))
		}
		return
	}
	if c.hasOwnEncoding(goT) {
		c.ps.add(where, "Go type %s has its own JSON encoding; tell the contract test (GoScalars) which GraphQL scalar it is", goTypeName(goT))
		return
	}
	if goT.Kind() == reflect.Struct {
		c.ps.add(where, "is scalar %s in actions.graphql, but Go type %s is a struct", name, goTypeName(goT))
		return
	}
	if !slices.Contains(scalarKinds[goT.Kind()], name) {
		c.ps.add(where, "is %s in actions.graphql, but Go type %s encodes as one of %s", name, goTypeName(goT), strings.Join(scalarKinds[goT.Kind()], ", "))
	}
}

func goTypeName(t reflect.Type) string {
	if t == nil {
		return "<none>"
	}
	return t.String()
}
