package internal_test

// The import rules of docs/architecture.md ("Packages"), checked: each package under
// functions/internal imports only the packages of this repository its row allows. The domain
// never sees HTTP or Hasura's envelope, the envelope never sees points, the adapters never see
// the envelope. A new package must be given a row here (and in the docs) before it builds into
// a passing test.

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/kaiser-kitchen/loyalty-point-backend/"

// mayImport is, per package (its path under functions/internal), the packages of this
// repository it may import, by the same path ("hasura/migrations" is the repository's
// hasura/ folder, the embedded migrations).
var mayImport = map[string][]string{
	// the envelope and the domain
	"hasura":  {},
	"routes":  {"hasura", "loyalty"},
	"loyalty": {"database", "turns"},
	// adapters
	"memberqr":  {"loyalty"},
	"cognito":   {"loyalty", "telemetry/awstrace"},
	"hasurajwt": {},
	"pretoken":  {"hasurajwt"},
	"images":    {},
	// support
	"config": {}, "database": {}, "turns": {}, "server": {}, "migrate": {}, "lambdazip": {},
	"failures":           {"hasura"},
	"telemetry":          {"hasura"},
	"telemetry/awstrace": {},
	"contract":           {"hasura", "routes"},
	"apidocs":            {"contract", "loyalty"},
	// the operators' tool
	"ctl":        {"csvimport", "hotfix", "images", "invariants", "liability", "replay", "telemetry", "telemetry/awstrace"},
	"csvimport":  {},
	"hotfix":     {"invariants"},
	"invariants": {},
	"liability":  {},
	"replay":     {"hasura"},
	// test helpers
	"pgtest":     {"database", "migrate", "hasura/migrations"},
	"hasuratest": {"hasura"},
}

func TestEveryPackageImportsOnlyWhatItsLayerAllows(t *testing.T) {
	seen := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == "." || d.Name() == "testdata" {
			return err
		}
		pkg, err := build.ImportDir(path, 0)
		if _, none := err.(*build.NoGoError); none {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.ToSlash(path)
		if strings.HasSuffix(name, "test") && name != "pgtest" && name != "hasuratest" {
			return nil // test helpers of one package (loyalty/loyaltytest, cognito/cognitotest, ...)
		}
		seen++
		allowed, known := mayImport[name]
		if !known {
			t.Errorf("functions/internal/%s has no row in mayImport (nor, probably, in docs/architecture.md)", name)
			return nil
		}
		for _, v := range violations(pkg.Imports, allowed) {
			t.Errorf("functions/internal/%s imports %s, which its layer does not allow", name, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < len(mayImport)-2 {
		t.Fatalf("checked %d packages; the walk no longer finds them", seen)
	}
}

// violations are the repository's packages among imports that allowed does not name.
func violations(imports, allowed []string) []string {
	var out []string
	for _, imp := range imports {
		if !strings.HasPrefix(imp, module) {
			continue
		}
		rel := strings.TrimPrefix(imp, module)
		if rel == "hasura" {
			rel = "hasura/migrations" // the repository's hasura/ folder, not the envelope
		}
		rel = strings.TrimPrefix(rel, "functions/internal/")
		if !slices.Contains(allowed, rel) {
			out = append(out, rel)
		}
	}
	return out
}

func TestAnImportAcrossTheLayersIsAViolation(t *testing.T) {
	got := violations([]string{"context", module + "functions/internal/hasura", module + "functions/internal/database"}, mayImport["loyalty"])
	if !slices.Equal(got, []string{"hasura"}) {
		t.Fatalf("loyalty importing the envelope: violations %q, want [hasura]", got)
	}
	if got := violations([]string{module + "hasura"}, mayImport["pgtest"]); len(got) != 0 {
		t.Fatalf("pgtest embedding the migrations: violations %q, want none", got)
	}
}
