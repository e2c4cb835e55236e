package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"sigs.k8s.io/yaml"
)

// Metadata is a Hasura metadata directory (config v3), parsed. Only the keys this project uses
// or may plausibly use are modelled; an unknown key is a load error, so a misspelt key
// (retry_config, filters, ...) fails here instead of being ignored.
type Metadata struct {
	Version      int
	Sources      []Source
	Actions      []Action
	CustomTypes  CustomTypes
	CronTriggers []CronTrigger
	// QueryCollections and AllowList: the operations the apps send and who may run them.
	QueryCollections []QueryCollection
	AllowList        []AllowListEntry
	// ActionsSDL is actions.graphql as written; Schema is its parse.
	ActionsSDL string
	Schema     *ast.SchemaDocument
	// Files are the files Load read, "!include"d ones too, relative to the metadata root.
	Files []string
}

// Source is one database of databases.yaml.
type Source struct {
	Name          string          `json:"name"`
	Kind          string          `json:"kind"`
	Configuration SourceConfig    `json:"configuration"`
	Tables        []Table         `json:"tables"`
	Functions     json.RawMessage `json:"functions,omitempty"`
	Customization json.RawMessage `json:"customization,omitempty"`
}

type SourceConfig struct {
	ConnectionInfo   ConnectionInfo  `json:"connection_info"`
	ReadReplicas     json.RawMessage `json:"read_replicas,omitempty"`
	ExtensionsSchema string          `json:"extensions_schema,omitempty"`
}

type ConnectionInfo struct {
	DatabaseURL           DatabaseURL     `json:"database_url"`
	IsolationLevel        string          `json:"isolation_level,omitempty"`
	PoolSettings          *PoolSettings   `json:"pool_settings,omitempty"`
	UsePreparedStatements bool            `json:"use_prepared_statements,omitempty"`
	SSLConfiguration      json.RawMessage `json:"ssl_configuration,omitempty"`
}

type PoolSettings struct {
	MaxConnections      *int     `json:"max_connections,omitempty"`
	TotalMaxConnections *int     `json:"total_max_connections,omitempty"`
	IdleTimeout         *int     `json:"idle_timeout,omitempty"`
	Retries             *int     `json:"retries,omitempty"`
	PoolTimeout         *float64 `json:"pool_timeout,omitempty"`
	ConnectionLifetime  *float64 `json:"connection_lifetime,omitempty"`
}

// DatabaseURL is a literal URL, {from_env: NAME} or {connection_parameters: ...}.
type DatabaseURL struct {
	Literal              string
	FromEnv              string
	ConnectionParameters json.RawMessage
}

func (u *DatabaseURL) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &u.Literal)
	}
	var v struct {
		FromEnv              string          `json:"from_env"`
		ConnectionParameters json.RawMessage `json:"connection_parameters"`
	}
	if err := strictDecode(b, &v); err != nil {
		return err
	}
	u.FromEnv, u.ConnectionParameters = v.FromEnv, v.ConnectionParameters
	return nil
}

// QualifiedTable is {name, schema}; a bare string is a table of schema public.
type QualifiedTable struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

func (t QualifiedTable) String() string { return t.Schema + "." + t.Name }

func (t *QualifiedTable) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		t.Schema = "public"
		return json.Unmarshal(b, &t.Name)
	}
	type plain QualifiedTable
	var v plain
	if err := strictDecode(b, &v); err != nil {
		return err
	}
	if v.Schema == "" {
		v.Schema = "public"
	}
	*t = QualifiedTable(v)
	return nil
}

// Table is one public_<table>.yaml.
type Table struct {
	Table               QualifiedTable                     `json:"table"`
	IsEnum              bool                               `json:"is_enum,omitempty"`
	Configuration       json.RawMessage                    `json:"configuration,omitempty"`
	ObjectRelationships []Relationship                     `json:"object_relationships,omitempty"`
	ArrayRelationships  []Relationship                     `json:"array_relationships,omitempty"`
	ComputedFields      json.RawMessage                    `json:"computed_fields,omitempty"`
	RemoteRelationships json.RawMessage                    `json:"remote_relationships,omitempty"`
	InsertPermissions   []RolePermission[InsertPermission] `json:"insert_permissions,omitempty"`
	SelectPermissions   []RolePermission[SelectPermission] `json:"select_permissions,omitempty"`
	UpdatePermissions   []RolePermission[UpdatePermission] `json:"update_permissions,omitempty"`
	DeletePermissions   []RolePermission[DeletePermission] `json:"delete_permissions,omitempty"`
	EventTriggers       []EventTrigger                     `json:"event_triggers,omitempty"`
}

// Relationship is an object or array relationship.
type Relationship struct {
	Name    string   `json:"name"`
	Using   RelUsing `json:"using"`
	Comment *string  `json:"comment,omitempty"`
}

type RelUsing struct {
	ForeignKeyConstraintOn *ForeignKeyOn `json:"foreign_key_constraint_on,omitempty"`
	ManualConfiguration    *ManualRel    `json:"manual_configuration,omitempty"`
}

// ForeignKeyOn is `column` (a foreign key of this table), or {column(s), table} (a foreign
// key of the remote table that points at this one).
type ForeignKeyOn struct {
	Columns []string
	Table   *QualifiedTable // nil: the foreign key is on this table
}

func (f *ForeignKeyOn) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var col string
		if err := json.Unmarshal(b, &col); err != nil {
			return err
		}
		f.Columns = []string{col}
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &f.Columns)
	}
	var v struct {
		Column  string          `json:"column"`
		Columns []string        `json:"columns"`
		Table   *QualifiedTable `json:"table"`
	}
	if err := strictDecode(b, &v); err != nil {
		return err
	}
	f.Columns, f.Table = v.Columns, v.Table
	if v.Column != "" {
		f.Columns = append([]string{v.Column}, f.Columns...)
	}
	return nil
}

type ManualRel struct {
	RemoteTable    QualifiedTable    `json:"remote_table"`
	ColumnMapping  map[string]string `json:"column_mapping"`
	InsertionOrder string            `json:"insertion_order,omitempty"`
}

// RolePermission is one role's permission of one kind.
type RolePermission[P any] struct {
	Role       string  `json:"role"`
	Permission P       `json:"permission"`
	Comment    *string `json:"comment,omitempty"`
}

// BoolExp is a permission's boolean expression, as decoded from JSON.
type BoolExp map[string]any

type SelectPermission struct {
	Columns                Columns  `json:"columns"`
	ComputedFields         []string `json:"computed_fields,omitempty"`
	Filter                 BoolExp  `json:"filter"`
	Limit                  *int     `json:"limit,omitempty"`
	AllowAggregations      bool     `json:"allow_aggregations,omitempty"`
	QueryRootFields        []string `json:"query_root_fields,omitempty"`
	SubscriptionRootFields []string `json:"subscription_root_fields,omitempty"`
}

type InsertPermission struct {
	Check       BoolExp        `json:"check"`
	Set         map[string]any `json:"set,omitempty"`
	Columns     Columns        `json:"columns"`
	BackendOnly bool           `json:"backend_only,omitempty"`
}

type UpdatePermission struct {
	Columns     Columns        `json:"columns"`
	Filter      BoolExp        `json:"filter"`
	Check       BoolExp        `json:"check,omitempty"`
	Set         map[string]any `json:"set,omitempty"`
	BackendOnly bool           `json:"backend_only,omitempty"`
}

type DeletePermission struct {
	Filter      BoolExp `json:"filter"`
	BackendOnly bool    `json:"backend_only,omitempty"`
}

// Columns is "*" (every column) or a list of column names.
type Columns struct {
	All   bool
	Names []string
}

func (c *Columns) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "*" {
			return fmt.Errorf(`columns must be "*" or a list, not %q`, s)
		}
		c.All = true
		return nil
	}
	return json.Unmarshal(b, &c.Names)
}

// EventTrigger is one entry of a table's event_triggers.
type EventTrigger struct {
	Name              string            `json:"name"`
	Definition        TriggerDefinition `json:"definition"`
	RetryConf         *EventRetryConf   `json:"retry_conf,omitempty"`
	Webhook           string            `json:"webhook,omitempty"`
	WebhookFromEnv    string            `json:"webhook_from_env,omitempty"`
	Headers           []Header          `json:"headers,omitempty"`
	RequestTransform  json.RawMessage   `json:"request_transform,omitempty"`
	ResponseTransform json.RawMessage   `json:"response_transform,omitempty"`
	CleanupConfig     json.RawMessage   `json:"cleanup_config,omitempty"`
}

type TriggerDefinition struct {
	EnableManual bool       `json:"enable_manual,omitempty"`
	Insert       *TriggerOp `json:"insert,omitempty"`
	Update       *TriggerOp `json:"update,omitempty"`
	Delete       *TriggerOp `json:"delete,omitempty"`
}

// TriggerOp says which column changes fire a trigger ("*" or a list) and which columns the
// payload carries.
type TriggerOp struct {
	Columns Columns  `json:"columns"`
	Payload *Columns `json:"payload,omitempty"`
}

type EventRetryConf struct {
	NumRetries  int `json:"num_retries"`
	IntervalSec int `json:"interval_sec"`
	TimeoutSec  int `json:"timeout_sec"`
}

// Header is a header Hasura adds to its requests: a literal value or one from its env.
type Header struct {
	Name         string `json:"name"`
	Value        string `json:"value,omitempty"`
	ValueFromEnv string `json:"value_from_env,omitempty"`
}

// Action is one entry of actions.yaml. Its type (query or mutation), arguments and output
// type live in actions.graphql, as the CLI writes them.
type Action struct {
	Name        string             `json:"name"`
	Definition  ActionDefinition   `json:"definition"`
	Permissions []ActionPermission `json:"permissions,omitempty"`
	Comment     *string            `json:"comment,omitempty"`
}

type ActionDefinition struct {
	Kind                 string          `json:"kind"`
	Handler              string          `json:"handler"`
	ForwardClientHeaders bool            `json:"forward_client_headers,omitempty"`
	Headers              []Header        `json:"headers,omitempty"`
	Timeout              int             `json:"timeout,omitempty"`
	RequestTransform     json.RawMessage `json:"request_transform,omitempty"`
	ResponseTransform    json.RawMessage `json:"response_transform,omitempty"`
}

type ActionPermission struct {
	Role string `json:"role"`
}

// CustomTypes lists the names of the types actions.graphql defines.
type CustomTypes struct {
	Enums        []CustomTypeName `json:"enums"`
	InputObjects []CustomTypeName `json:"input_objects"`
	Objects      []CustomTypeName `json:"objects"`
	Scalars      []CustomTypeName `json:"scalars"`
}

type CustomTypeName struct {
	Name          string          `json:"name"`
	Description   *string         `json:"description,omitempty"`
	Relationships json.RawMessage `json:"relationships,omitempty"`
}

// CronTrigger is one entry of cron_triggers.yaml.
type CronTrigger struct {
	Name              string          `json:"name"`
	Webhook           string          `json:"webhook"`
	Schedule          string          `json:"schedule"`
	IncludeInMetadata bool            `json:"include_in_metadata"`
	Payload           json.RawMessage `json:"payload,omitempty"`
	RetryConf         *CronRetryConf  `json:"retry_conf,omitempty"`
	Headers           []Header        `json:"headers,omitempty"`
	Comment           *string         `json:"comment,omitempty"`
	RequestTransform  json.RawMessage `json:"request_transform,omitempty"`
	ResponseTransform json.RawMessage `json:"response_transform,omitempty"`
}

type CronRetryConf struct {
	NumRetries           int `json:"num_retries"`
	RetryIntervalSeconds int `json:"retry_interval_seconds"`
	TimeoutSeconds       int `json:"timeout_seconds"`
	ToleranceSeconds     int `json:"tolerance_seconds"`
}

// QueryCollection is one entry of query_collections.yaml.
type QueryCollection struct {
	Name       string  `json:"name"`
	Comment    *string `json:"comment,omitempty"`
	Definition struct {
		Queries []CollectionQuery `json:"queries"`
	} `json:"definition"`
}

// CollectionQuery is one named GraphQL document of a collection.
type CollectionQuery struct {
	Name  string `json:"name"`
	Query string `json:"query"`
}

// AllowListEntry is one entry of allow_list.yaml: a collection, for every role (global) or
// for the roles listed.
type AllowListEntry struct {
	Collection string `json:"collection"`
	Scope      *struct {
		Global bool     `json:"global"`
		Roles  []string `json:"roles,omitempty"`
	} `json:"scope,omitempty"`
}

// Load reads the metadata directory fsys (the directory that holds version.yaml).
func Load(fsys fs.FS) (*Metadata, error) {
	l := &loader{fsys: fsys}
	m := &Metadata{}
	var version struct {
		Version int `json:"version"`
	}
	var actions struct {
		Actions     []Action    `json:"actions"`
		CustomTypes CustomTypes `json:"custom_types"`
	}
	var sources []struct {
		Source
		Tables []json.RawMessage `json:"tables"`
	}
	var errs []error
	for _, f := range []struct {
		path string
		into any
	}{
		{"version.yaml", &version},
		{"databases/databases.yaml", &sources},
		{"actions.yaml", &actions},
		{"cron_triggers.yaml", &m.CronTriggers},
		{"query_collections.yaml", &m.QueryCollections},
		{"allow_list.yaml", &m.AllowList},
	} {
		if err := l.decode(f.path, f.into); err != nil {
			errs = append(errs, err)
		}
	}
	m.Version = version.Version
	m.Actions, m.CustomTypes = actions.Actions, actions.CustomTypes
	for _, s := range sources {
		src := s.Source
		for i, raw := range s.Tables {
			var t Table
			if err := strictDecode(raw, &t); err != nil {
				errs = append(errs, fmt.Errorf("database %s, table %s: %w", src.Name, tableLabel(raw, i), err))
				continue
			}
			src.Tables = append(src.Tables, t)
		}
		m.Sources = append(m.Sources, src)
	}
	sdl, err := fs.ReadFile(fsys, "actions.graphql")
	if err != nil {
		errs = append(errs, err)
	} else {
		l.files = append(l.files, "actions.graphql")
		m.ActionsSDL = string(sdl)
		m.Schema, err = parser.ParseSchema(&ast.Source{Name: "actions.graphql", Input: m.ActionsSDL})
		if err != nil {
			errs = append(errs, fmt.Errorf("actions.graphql: %w", err))
		}
	}
	sort.Strings(l.files)
	m.Files = l.files
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Table returns the metadata of a tracked table of source "default".
func (m *Metadata) Table(name QualifiedTable) (*Table, bool) {
	for si := range m.Sources {
		for ti := range m.Sources[si].Tables {
			if t := &m.Sources[si].Tables[ti]; t.Table == name {
				return t, true
			}
		}
	}
	return nil, false
}

// tableLabel names a table entry for an error message, even when it does not decode.
func tableLabel(raw json.RawMessage, i int) string {
	var v struct {
		Table QualifiedTable `json:"table"`
	}
	if json.Unmarshal(raw, &v) == nil && v.Table.Name != "" {
		return v.Table.String()
	}
	return fmt.Sprintf("#%d", i+1)
}

type loader struct {
	fsys  fs.FS
	files []string
}

// decode reads a YAML file, resolves its "!include"s and decodes it strictly into v.
func (l *loader) decode(name string, v any) error {
	tree, err := l.read(name, 0)
	if err != nil {
		return err
	}
	b, err := json.Marshal(tree)
	if err != nil {
		return err
	}
	if err := strictDecode(b, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

const maxIncludeDepth = 8

// read parses one YAML file into plain values with every "!include <file>" string replaced by
// the content of <file>, a path relative to the including file's directory, as the CLI does.
func (l *loader) read(name string, depth int) (any, error) {
	if depth > maxIncludeDepth {
		return nil, fmt.Errorf("%s: includes nest deeper than %d", name, maxIncludeDepth)
	}
	raw, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		return nil, err
	}
	l.files = append(l.files, name)
	j, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var tree any
	if err := json.Unmarshal(j, &tree); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return l.resolve(path.Dir(name), tree, depth)
}

func (l *loader) resolve(dir string, v any, depth int) (any, error) {
	switch v := v.(type) {
	case string:
		if rest, ok := strings.CutPrefix(v, "!include "); ok {
			return l.read(path.Join(dir, strings.TrimSpace(rest)), depth+1)
		}
		return v, nil
	case []any:
		for i := range v {
			r, err := l.resolve(dir, v[i], depth)
			if err != nil {
				return nil, err
			}
			v[i] = r
		}
		return v, nil
	case map[string]any:
		for k := range v {
			r, err := l.resolve(dir, v[k], depth)
			if err != nil {
				return nil, err
			}
			v[k] = r
		}
		return v, nil
	default:
		return v, nil
	}
}

// strictDecode decodes JSON refusing unknown keys.
func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
