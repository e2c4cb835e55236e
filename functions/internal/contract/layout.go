package contract

import (
	"encoding/json"
	"io/fs"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// cliFiles are the top-level files `hasura metadata export` writes (config v3, engine v2.4x)
// besides the ones Load decodes, with the shape of their content: a list or an object.
var cliFiles = map[string]string{
	"allow_list.yaml":                   "list",
	"api_limits.yaml":                   "object",
	"backend_configs.yaml":              "object",
	"graphql_schema_introspection.yaml": "object",
	"inherited_roles.yaml":              "list",
	"metrics_config.yaml":               "object",
	"network.yaml":                      "object",
	"opentelemetry.yaml":                "object",
	"query_collections.yaml":            "list",
	"remote_schemas.yaml":               "list",
	"rest_endpoints.yaml":               "list",
}

// CheckLayout reports departures from the directory the CLI writes: the metadata version, a
// missing or malformed top-level file, a table file the CLI would name differently, and a
// YAML file under databases/ that no "!include" reaches (the CLI silently ignores it).
func CheckLayout(fsys fs.FS, m *Metadata) []Problem {
	var ps problems
	if m.Version != 3 {
		ps.add("version.yaml", "version is %d, want 3 (config v3)", m.Version)
	}
	for _, name := range sortedKeys(cliFiles) {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			ps.add(name, "is missing: the CLI writes it (empty: %s)", map[string]string{"list": "[]", "object": "{}"}[cliFiles[name]])
			continue
		}
		j, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			ps.add(name, "is not YAML: %v", err)
			continue
		}
		var v any
		_ = json.Unmarshal(j, &v)
		switch v.(type) {
		case []any:
			if cliFiles[name] != "list" {
				ps.add(name, "holds a list; Hasura expects an object")
			}
		case map[string]any:
			if cliFiles[name] != "object" {
				ps.add(name, "holds an object; Hasura expects a list")
			}
		default:
			ps.add(name, "holds neither a list nor an object")
		}
	}
	for _, src := range m.Sources {
		for _, t := range src.Tables {
			file := path.Join("databases", src.Name, "tables", t.Table.Schema+"_"+t.Table.Name+".yaml")
			if !slices.Contains(m.Files, file) {
				ps.add("table "+t.Table.String(), "is not defined in %s, the file the CLI writes for it", file)
			}
		}
	}
	_ = fs.WalkDir(fsys, "databases", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			ps.add(p, "cannot be read: %v", err)
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(p, ".yaml") && !slices.Contains(m.Files, p) {
			ps.add(p, "is not included from databases/databases.yaml, so Hasura never sees it")
		}
		return nil
	})
	return ps
}
