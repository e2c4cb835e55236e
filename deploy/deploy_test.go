package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"k8s.io/apimachinery/pkg/api/resource"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// What each environment is; the workflows and overlays must agree with it.
type environment struct {
	overlay, namespace, github, prefix, workflow, branch string
}

var environments = []environment{
	{"dev", "loyalty-dev", "develop", "DEV_", "deploy-develop.yml", "develop"},
	{"stag", "loyalty-stag", "staging", "STAG_", "deploy-staging.yml", "releases/**-stag"},
	{"prod", "loyalty-prod", "production", "PROD_", "deploy-production.yml", "releases/**-prod"},
}

// The deploy job's steps, by id, in the release flow's order (docs/release.md).
var deploySteps = []string{"checkout", "slack-start", "aws", "ecr", "build", "sync-env", "deploy",
	"hasura-cli", "migrate", "metadata", "inconsistency", "slack-result"}

// The repository root, seen from this package's directory.
const repo = ".."

// object is one rendered manifest.
type object struct {
	APIVersion, Kind, Name, Namespace string
	YAML                              []byte
	Map                               map[string]any
}

func (o object) String() string { return o.APIVersion + " " + o.Kind + " " + o.Name }

func errorList(errs []error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n  " + e.Error())
	}
	return b.String()
}

// render builds deploy/<overlay> (or any kustomization dir) under root with the kustomize API.
func render(root, dir string) ([]object, error) {
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, dir))
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out []object
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		m, err := r.Map()
		if err != nil {
			return nil, err
		}
		out = append(out, object{r.GetApiVersion(), r.GetKind(), r.GetName(), r.GetNamespace(), y, m})
	}
	return out, nil
}

// parseManifests splits a multi-document YAML stream (the sync script's output).
func parseManifests(b []byte) ([]object, error) {
	var out []object
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, err
		}
		md, _ := m["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		ns, _ := md["namespace"].(string)
		av, _ := m["apiVersion"].(string)
		kind, _ := m["kind"].(string)
		out = append(out, object{av, kind, name, ns, []byte(doc), m})
	}
	return out, nil
}

func find(objs []object, kind, name string) (object, bool) {
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return object{}, false
}

// get walks a decoded object: get(m, "spec", "template", "spec").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// ---- Knative ----------------------------------------------------------------------------

// checkKnative decodes every Knative Service strictly into Knative's Go types and runs their
// validation (errors only: a valid service still gets a securityContext warning).
func checkKnative(objs []object) []error {
	var errs []error
	n := 0
	for _, o := range objs {
		if o.APIVersion != "serving.knative.dev/v1" || o.Kind != "Service" {
			continue
		}
		n++
		var svc servingv1.Service
		if err := yaml.UnmarshalStrict(o.YAML, &svc); err != nil {
			errs = append(errs, fmt.Errorf("knative %s: strict decode: %w", o.Name, err))
			continue
		}
		ctx := apis.WithinCreate(context.Background())
		svc.SetDefaults(ctx)
		if fe := svc.Validate(ctx).Filter(apis.ErrorLevel); fe != nil {
			errs = append(errs, fmt.Errorf("knative %s: Validate: %v", o.Name, fe))
		}
		c := svc.Spec.Template.Spec.Containers
		if len(c) != 1 || c[0].ReadinessProbe == nil || c[0].LivenessProbe == nil ||
			c[0].ReadinessProbe.HTTPGet == nil || c[0].ReadinessProbe.HTTPGet.Path != "/healthz" ||
			c[0].LivenessProbe.HTTPGet == nil || c[0].LivenessProbe.HTTPGet.Path != "/healthz" {
			errs = append(errs, fmt.Errorf("knative %s: one container with readiness and liveness probes on /healthz", o.Name))
		} else {
			sc := c[0].SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				errs = append(errs, fmt.Errorf("knative %s: must run as non-root with a read-only root filesystem", o.Name))
			}
			if c[0].Resources.Requests.Cpu().IsZero() || c[0].Resources.Limits.Memory().IsZero() {
				errs = append(errs, fmt.Errorf("knative %s: needs cpu requests and memory limits", o.Name))
			}
		}
		if svc.Spec.Template.Spec.ContainerConcurrency == nil || *svc.Spec.Template.Spec.ContainerConcurrency == 0 {
			errs = append(errs, fmt.Errorf("knative %s: containerConcurrency must be set", o.Name))
		}
	}
	if n == 0 {
		errs = append(errs, errors.New("no Knative Service rendered"))
	}
	return errs
}

// checkGoRuntime checks the Go runtime's settings of the functions (functions-config): GOGC a
// positive percentage, GOMEMLIMIT (Go's syntax: a number of bytes with an optional B, KiB,
// MiB or GiB) below the container's memory limit, so that the collector works harder before
// the kernel kills the pod.
var goMemLimit = regexp.MustCompile(`^[0-9]+(B|KiB|MiB|GiB|TiB)?$`)

func checkGoRuntime(objs []object) []error {
	cm, ok := find(objs, "ConfigMap", "functions-config")
	if !ok {
		return []error{errors.New("no ConfigMap functions-config")}
	}
	svc, ok := find(objs, "Service", "functions")
	if !ok {
		return []error{errors.New("no Knative Service functions")}
	}
	var errs []error
	if n, err := strconv.Atoi(str(get(cm.Map, "data", "GOGC"))); err != nil || n <= 0 {
		errs = append(errs, fmt.Errorf("functions-config: GOGC %q is not a positive percentage", str(get(cm.Map, "data", "GOGC"))))
	}
	raw := str(get(cm.Map, "data", "GOMEMLIMIT"))
	if !goMemLimit.MatchString(raw) {
		return append(errs, fmt.Errorf("functions-config: GOMEMLIMIT %q is not in Go's syntax (e.g. 200MiB)", raw))
	}
	soft, err := resource.ParseQuantity(strings.TrimSuffix(raw, "B")) // 200MiB is Kubernetes' 200Mi
	if err != nil {
		return append(errs, fmt.Errorf("functions-config: GOMEMLIMIT %q: %w", raw, err))
	}
	limit, err := resource.ParseQuantity(str(get(svc.Map, "spec", "template", "spec", "containers", 0, "resources", "limits", "memory")))
	if err != nil {
		return append(errs, fmt.Errorf("functions: memory limit: %w", err))
	}
	if soft.Cmp(limit) >= 0 {
		errs = append(errs, fmt.Errorf("functions-config: GOMEMLIMIT %s is not below the container's memory limit %s", raw, limit.String()))
	}
	return errs
}

// ---- JSON schemas -----------------------------------------------------------------------

type schemas struct {
	kinds    map[string]string
	compiled map[string]*jsonschema.Schema
	c        *jsonschema.Compiler
}

const schemaURL = "file:///schemas.json"

func loadSchemas(root string) (*schemas, error) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/schemas/schemas.json"))
	if err != nil {
		return nil, err
	}
	var idx struct {
		Kinds map[string]string `json:"x-kinds"`
	}
	if err := yaml.Unmarshal(b, &idx); err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return &schemas{idx.Kinds, map[string]*jsonschema.Schema{}, c}, nil
}

// check validates each object against the committed schema of its apiVersion and kind; an
// object of a kind without a schema is an error too.
func (s *schemas) check(objs []object) []error {
	var errs []error
	for _, o := range objs {
		key := o.APIVersion + "/" + o.Kind
		ref, ok := s.kinds[key]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no schema for %s in deploy/schemas/schemas.json", o, key))
			continue
		}
		sch, ok := s.compiled[ref]
		if !ok {
			var err error
			if sch, err = s.c.Compile(schemaURL + ref); err != nil {
				errs = append(errs, fmt.Errorf("compile %s: %w", ref, err))
				continue
			}
			s.compiled[ref] = sch
		}
		j, err := yaml.YAMLToJSON(o.YAML)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o, err))
			continue
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o, err))
			continue
		}
		if err := sch.Validate(inst); err != nil {
			errs = append(errs, fmt.Errorf("schema %s: %v", o, err))
		}
	}
	return errs
}

// ---- public routes ----------------------------------------------------------------------

// The only public routes: path, pathType, backend service.
var publicRoutes = []string{"/ Prefix app", "/v1/graphql Exact hasura"}

// checkRoutes walks the Ingress rules: exactly the public routes above, through Kong, with
// TLS and the rate-limiting and CORS plugins; the functions cluster-local; no Service open
// to the outside.
func checkRoutes(objs []object) []error {
	var errs []error
	var routes []string
	type rule struct{ path, pathType, backend string }
	var rules []rule
	plugins := map[string]string{}
	for _, o := range objs {
		if o.Kind == "KongPlugin" {
			plugins[o.Name] = str(o.Map["plugin"])
		}
	}
	ingresses := 0
	for _, o := range objs {
		switch {
		case o.Kind == "Ingress":
			ingresses++
			if str(get(o.Map, "spec", "ingressClassName")) != "kong" {
				errs = append(errs, fmt.Errorf("ingress %s: ingressClassName must be kong", o.Name))
			}
			if get(o.Map, "spec", "defaultBackend") != nil {
				errs = append(errs, fmt.Errorf("ingress %s: no defaultBackend", o.Name))
			}
			tlsHosts := map[string]bool{}
			tls, _ := get(o.Map, "spec", "tls").([]any)
			for _, t := range tls {
				if str(get(t, "secretName")) == "" {
					continue
				}
				hs, _ := get(t, "hosts").([]any)
				for _, h := range hs {
					tlsHosts[str(h)] = true
				}
			}
			attached := map[string]bool{}
			for _, name := range strings.Split(str(get(o.Map, "metadata", "annotations", "konghq.com/plugins")), ",") {
				name = strings.TrimSpace(name)
				if name == "" {
					continue
				}
				kind, ok := plugins[name]
				if !ok {
					errs = append(errs, fmt.Errorf("ingress %s: plugin %q is not a KongPlugin of this overlay", o.Name, name))
				}
				attached[kind] = true
			}
			if !attached["rate-limiting"] || !attached["cors"] {
				errs = append(errs, fmt.Errorf("ingress %s: needs the rate-limiting and cors KongPlugins by annotation", o.Name))
			}
			rs, _ := get(o.Map, "spec", "rules").([]any)
			for _, r := range rs {
				host := str(get(r, "host"))
				if host == "" || !tlsHosts[host] {
					errs = append(errs, fmt.Errorf("ingress %s: host %q needs a TLS entry with a secretName", o.Name, host))
				}
				ps, _ := get(r, "http", "paths").([]any)
				for _, p := range ps {
					backend := str(get(p, "backend", "service", "name"))
					if get(p, "backend", "resource") != nil {
						backend = "resource"
					}
					rl := rule{str(get(p, "path")), str(get(p, "pathType")), backend}
					rules = append(rules, rl)
					routes = append(routes, rl.path+" "+rl.pathType+" "+rl.backend)
				}
			}
		case o.Kind == "Service" && o.APIVersion == "v1":
			if t := str(get(o.Map, "spec", "type")); t != "" && t != "ClusterIP" {
				errs = append(errs, fmt.Errorf("service %s: type %s exposes it outside the cluster", o.Name, t))
			}
		case o.Kind == "Service" && o.APIVersion == "serving.knative.dev/v1":
			if str(get(o.Map, "metadata", "labels", "networking.knative.dev/visibility")) != "cluster-local" {
				errs = append(errs, fmt.Errorf("knative %s: must be labelled networking.knative.dev/visibility: cluster-local", o.Name))
			}
		case strings.HasSuffix(o.APIVersion, "konghq.com/v1beta1") || strings.Contains(o.APIVersion, "gateway.networking.k8s.io"):
			errs = append(errs, fmt.Errorf("%s: routes only by the Ingress", o))
		}
	}
	if ingresses == 0 {
		errs = append(errs, errors.New("no Ingress rendered"))
	}
	sort.Strings(routes)
	if !slices.Equal(routes, publicRoutes) {
		errs = append(errs, fmt.Errorf("public routes %q, want exactly %q", routes, publicRoutes))
	}
	// Where a request goes, as Kong matches Ingress paths: Exact first, then the longest Prefix.
	route := func(path string) string {
		best, bestLen := "", -1
		for _, r := range rules {
			switch r.pathType {
			case "Exact":
				if path == r.path {
					return r.backend
				}
			default: // Prefix and ImplementationSpecific, read as prefixes (the wider reading)
				p := strings.TrimSuffix(r.path, "/")
				if (path == p || strings.HasPrefix(path, p+"/") || r.path == "/" || r.pathType != "Prefix" && strings.HasPrefix(path, r.path)) && len(r.path) > bestLen {
					best, bestLen = r.backend, len(r.path)
				}
			}
		}
		return best
	}
	if got := route("/v1/graphql"); got != "hasura" {
		errs = append(errs, fmt.Errorf("/v1/graphql reaches %q, want hasura", got))
	}
	for _, p := range []string{"/v1/metadata", "/v2/query", "/v1/version", "/console", "/v1/graphql/x", "/v1/query", "/healthz", "/earnPoints"} {
		if got := route(p); got == "hasura" || got == "functions" || got == "resource" {
			errs = append(errs, fmt.Errorf("%s reaches %s from outside", p, got))
		}
	}
	return errs
}

// ---- one overlay ------------------------------------------------------------------------

var imageVersion = regexp.MustCompile(`^hasura/graphql-engine:(v2\.\d+\.\d+)$`)

// hasuraVersion is the pinned engine version of the base.
func hasuraVersion(objs []object) string {
	d, _ := find(objs, "Deployment", "hasura")
	m := imageVersion.FindStringSubmatch(str(get(d.Map, "spec", "template", "spec", "containers", 0, "image")))
	if m == nil {
		return ""
	}
	return m[1]
}

// checkOverlay: the namespace, every service present, the scale bounds, the functions' URL.
func checkOverlay(env environment, objs []object) []error {
	var errs []error
	for _, want := range [][2]string{{"Service", "functions"}, {"Deployment", "hasura"}, {"Service", "hasura"},
		{"PodDisruptionBudget", "hasura"}, {"Deployment", "app"}, {"Service", "app"}, {"Ingress", "loyalty"},
		{"ConfigMap", "functions-config"}, {"ConfigMap", "hasura-config"}} {
		if _, ok := find(objs, want[0], want[1]); !ok {
			errs = append(errs, fmt.Errorf("%s: no %s %s", env.overlay, want[0], want[1]))
		}
	}
	for _, o := range objs {
		if o.Namespace != env.namespace {
			errs = append(errs, fmt.Errorf("%s: %s in namespace %q, want %q", env.overlay, o, o.Namespace, env.namespace))
		}
	}
	if hasuraVersion(objs) == "" {
		errs = append(errs, fmt.Errorf("%s: Hasura's image must be hasura/graphql-engine:v2.x.y, pinned", env.overlay))
	}
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		for _, c := range get(o.Map, "spec", "template", "spec", "containers").([]any) {
			img := str(get(c, "image"))
			if !strings.Contains(img, ":") || strings.HasSuffix(img, ":latest") {
				errs = append(errs, fmt.Errorf("%s: %s image %q needs a tag", env.overlay, o.Name, img))
			}
		}
	}
	ksvc, _ := find(objs, "Service", "functions")
	ann := func(k string) (int, error) {
		return strconv.Atoi(str(get(ksvc.Map, "spec", "template", "metadata", "annotations", "autoscaling.knative.dev/"+k)))
	}
	minScale, err1 := ann("min-scale")
	maxScale, err2 := ann("max-scale")
	if err1 != nil || err2 != nil || minScale < 0 || maxScale < max(minScale, 1) {
		errs = append(errs, fmt.Errorf("%s: functions min-scale %d, max-scale %d: bad bounds", env.overlay, minScale, maxScale))
	}
	hasura, _ := find(objs, "Deployment", "hasura")
	replicas, _ := get(hasura.Map, "spec", "replicas").(int)
	if f, ok := get(hasura.Map, "spec", "replicas").(float64); ok {
		replicas = int(f)
	}
	if env.overlay == "prod" {
		if minScale < 1 {
			errs = append(errs, fmt.Errorf("prod: functions min-scale %d, want >= 1 (no cold start at the counter)", minScale))
		}
		if replicas < 2 {
			errs = append(errs, fmt.Errorf("prod: Hasura replicas %d, want >= 2", replicas))
		}
	}
	cm, _ := find(objs, "ConfigMap", "hasura-config")
	if got, want := str(get(cm.Map, "data", "FUNCTIONS_BASE_URL")), "http://functions."+env.namespace+".svc.cluster.local"; got != want {
		errs = append(errs, fmt.Errorf("%s: FUNCTIONS_BASE_URL %q, want the functions' cluster-local URL %q", env.overlay, got, want))
	}
	// Staging and production run only the allow-listed operations (query_collections.yaml),
	// so no member can send a query the apps never do; dev stays open for trying new ones.
	if env.overlay != "dev" {
		if got := str(get(cm.Map, "data", "HASURA_GRAPHQL_ENABLE_ALLOWLIST")); got != "true" {
			errs = append(errs, fmt.Errorf("%s: hasura-config HASURA_GRAPHQL_ENABLE_ALLOWLIST=%q, want \"true\"", env.overlay, got))
		}
		for _, e := range asList(get(hasura.Map, "spec", "template", "spec", "containers", 0, "env")) {
			if str(get(e, "name")) == "HASURA_GRAPHQL_ENABLE_ALLOWLIST" {
				errs = append(errs, fmt.Errorf("%s: the hasura container sets HASURA_GRAPHQL_ENABLE_ALLOWLIST itself, over hasura-config", env.overlay))
			}
		}
	}
	return errs
}

func asList(v any) []any { l, _ := v.([]any); return l }

// metadataEnv lists the env vars Hasura's metadata names ({{VAR}} templates, value_from_env,
// from_env): the engine must have each, or the metadata turns inconsistent.
func metadataEnv(root string) ([]string, error) {
	re := regexp.MustCompile(`\{\{\s*([A-Z][A-Z0-9_]*)\s*\}\}|(?:value_from_env|from_env|webhook_from_env):\s*['"]?([A-Z][A-Z0-9_]*)`)
	set := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "hasura/metadata"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			set[m[1]+m[2]] = true
		}
		return nil
	})
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, err
}

// checkHasuraEnv: Hasura's container gets every variable the metadata names and the engine
// needs, from its ConfigMap or from the Secret deploy/sync-env.sh writes; console and dev
// mode off, unauthorised requests as anonymous.
func checkHasuraEnv(root string, objs []object, synced []object) []error {
	var errs []error
	names, err := metadataEnv(root)
	if err != nil {
		return []error{err}
	}
	if len(names) == 0 {
		return []error{errors.New("found no env var in hasura/metadata")}
	}
	d, _ := find(objs, "Deployment", "hasura")
	have := map[string]bool{}
	c := get(d.Map, "spec", "template", "spec", "containers", 0)
	envs, _ := get(c, "env").([]any)
	for _, e := range envs {
		have[str(get(e, "name"))] = true
	}
	from, _ := get(c, "envFrom").([]any)
	for _, f := range from {
		var src []object
		kind, name := "ConfigMap", str(get(f, "configMapRef", "name"))
		src = objs
		if name == "" {
			kind, name, src = "Secret", str(get(f, "secretRef", "name")), synced
		}
		o, ok := find(src, kind, name)
		if !ok {
			errs = append(errs, fmt.Errorf("hasura: envFrom %s %s is neither in the overlay nor written by sync-env.sh", kind, name))
			continue
		}
		data, _ := o.Map["data"].(map[string]any)
		for k := range data {
			have[k] = true
		}
	}
	want := append(names, "HASURA_GRAPHQL_METADATA_DATABASE_URL", "HASURA_GRAPHQL_ADMIN_SECRET", "HASURA_GRAPHQL_JWT_SECRET")
	for _, n := range want {
		if !have[n] {
			errs = append(errs, fmt.Errorf("hasura: %s is not in the engine's environment", n))
		}
	}
	cm, _ := find(objs, "ConfigMap", "hasura-config")
	for k, v := range map[string]string{"HASURA_GRAPHQL_UNAUTHORIZED_ROLE": "anonymous", "HASURA_GRAPHQL_ENABLE_CONSOLE": "false", "HASURA_GRAPHQL_DEV_MODE": "false"} {
		if got := str(get(cm.Map, "data", k)); got != v {
			errs = append(errs, fmt.Errorf("hasura-config: %s=%q, want %q", k, got, v))
		}
	}
	return errs
}

// ---- the sync script --------------------------------------------------------------------

var fakeSettings = map[string]string{
	"DATABASE_URL":                         "postgres://functions:fake@db:5432/loyalty?sslmode=require&pool_max_conns=10",
	"ACTION_SECRET":                        `fake-action-"secret"\n`,
	"MEMBER_QR_SECRET":                     "fake-member-qr-secret-0123456789abcdef",
	"HASURA_GRAPHQL_METADATA_DATABASE_URL": "postgres://hasura:fake@db:5432/hasura",
	"PG_DATABASE_URL":                      "postgres://hasura:fake@db:5432/loyalty",
	"HASURA_GRAPHQL_ADMIN_SECRET":          "fake-admin-secret",
	"HASURA_GRAPHQL_JWT_SECRET":            `{"type":"RS256","jwk_url":"https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_fake/.well-known/jwks.json","claims_format":"stringified_json"}`,
	"AWS_REGION":                           "ap-northeast-1",
	"COGNITO_USER_POOL_ID":                 `ap-northeast-1_"fake"\x`,
	"S3_BUCKET":                            "kk-loyalty-fake",
}

// runSync runs deploy/sync-env.sh under root with only PATH and the given settings.
func runSync(root, namespace string, settings map[string]string) (stdout, stderr string, err error) {
	cmd := exec.Command("bash", filepath.Join(root, "deploy/sync-env.sh"), namespace)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SECRET_PREFIX=FAKE_"}
	for k, v := range settings {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// syncKeys reads the names the script syncs from its arrays (what the workflow must pass).
func syncKeys(root string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/sync-env.sh"))
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(?:functions_secrets|hasura_secrets|functions_env)=\(([^)]*)\)`).FindAllStringSubmatch(string(b), -1) {
		for _, f := range strings.Fields(m[1]) {
			set[strings.SplitN(f, ":", 2)[0]] = true
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// checkSyncEnv runs the script with fake values and no cluster: valid manifests in the given
// namespace holding exactly the values given; a missing required value fails naming it.
func checkSyncEnv(root string, s *schemas) ([]object, []error) {
	var errs []error
	out, stderr, err := runSync(root, "loyalty-test", fakeSettings)
	if err != nil {
		return nil, []error{fmt.Errorf("sync-env.sh: %v: %s", err, stderr)}
	}
	objs, err := parseManifests([]byte(out))
	if err != nil {
		return nil, []error{fmt.Errorf("sync-env.sh output: %w", err)}
	}
	errs = append(errs, s.check(objs)...)
	got := map[string]bool{}
	for _, o := range objs {
		if o.Namespace != "loyalty-test" {
			errs = append(errs, fmt.Errorf("sync-env.sh: %s in namespace %q", o, o.Namespace))
		}
		data, _ := o.Map["data"].(map[string]any)
		for k, v := range data {
			val := str(v)
			if o.Kind == "Secret" {
				dec, err := base64.StdEncoding.DecodeString(val)
				if err != nil {
					errs = append(errs, fmt.Errorf("sync-env.sh: %s %s: %v", o.Name, k, err))
				}
				val = string(dec)
			}
			if val != fakeSettings[k] {
				errs = append(errs, fmt.Errorf("sync-env.sh: %s %s = %q, want %q", o.Name, k, val, fakeSettings[k]))
			}
			got[k] = true
		}
	}
	for k := range fakeSettings {
		if !got[k] {
			errs = append(errs, fmt.Errorf("sync-env.sh: %s was not synced", k))
		}
	}
	partial := map[string]string{}
	for k, v := range fakeSettings {
		if k != "HASURA_GRAPHQL_ADMIN_SECRET" {
			partial[k] = v
		}
	}
	if _, stderr, err := runSync(root, "loyalty-test", partial); err == nil || !strings.Contains(stderr, "HASURA_GRAPHQL_ADMIN_SECRET (GitHub secret FAKE_HASURA_GRAPHQL_ADMIN_SECRET)") {
		errs = append(errs, fmt.Errorf("sync-env.sh without the admin secret: err %v, stderr %q; want a failure naming it", err, stderr))
	}
	return objs, errs
}

// ---- workflows --------------------------------------------------------------------------

// actionlint runs as a pinned tool, in its own module: its YAML library (go.yaml.in/yaml/v4
// rc.3) cannot share a build with compose-go's (rc.4).
const actionlintModule = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"

// actionlintBinary is actionlint at the pinned version, installed once per test binary into a
// folder of its own: from the module cache, served to go install as a file proxy, when it
// holds the module (no network, as on every run after the first; the cache verified its
// sums when it downloaded them, so the checksum database is not asked again), else through
// the configured module proxy.
var actionlintBinary = sync.OnceValues(func() (string, error) {
	version := actionlintModule[strings.LastIndex(actionlintModule, "@")+1:]
	dir := filepath.Join(os.TempDir(), "loyalty-actionlint-"+version)
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	fromCache := []string{"GOPROXY=file://" + filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download"), "GOSUMDB=off"}
	var out []byte
	for _, env := range [][]string{fromCache, nil} {
		cmd := exec.Command("go", "install", actionlintModule)
		cmd.Env = append(append(os.Environ(), "GOBIN="+dir), env...)
		if out, err = cmd.CombinedOutput(); err == nil {
			return filepath.Join(dir, "actionlint"), nil
		}
	}
	return "", fmt.Errorf("installing %s: %v\n%s", actionlintModule, err, out)
})

// lintWorkflows runs actionlint on every workflow under root; it checks run: scripts with
// shellcheck too when shellcheck is on PATH.
func lintWorkflows(root string) []error {
	files, _ := filepath.Glob(filepath.Join(root, ".github/workflows/*.yml"))
	yamls, _ := filepath.Glob(filepath.Join(root, ".github/workflows/*.yaml"))
	files = append(files, yamls...)
	if len(files) == 0 {
		return []error{errors.New("no workflow found")}
	}
	bin, err := actionlintBinary()
	if err != nil {
		return []error{err}
	}
	cmd := exec.Command(bin, append([]string{"-no-color", "-format", "{{json .}}"}, files...)...)
	cmd.Dir = root
	for i, f := range cmd.Args {
		if strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml") {
			cmd.Args[i], _ = filepath.Abs(f)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var found []struct {
		Message  string `json:"message"`
		Filepath string `json:"filepath"`
		Line     int    `json:"line"`
		Column   int    `json:"column"`
		Kind     string `json:"kind"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &found); err != nil {
		return []error{fmt.Errorf("actionlint: %v (%v): %s%s", runErr, err, stdout.String(), stderr.String())}
	}
	var errs []error
	for _, e := range found {
		errs = append(errs, fmt.Errorf("actionlint %s:%d:%d: %s [%s]", filepath.Base(e.Filepath), e.Line, e.Column, e.Message, e.Kind))
	}
	if runErr != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("actionlint: %v: %s", runErr, stderr.String()))
	}
	return errs
}

func readYAML(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	// YAML 1.1 reads the workflow key `on` as the boolean true.
	if v, ok := m["true"]; ok {
		m["on"] = v
		delete(m, "true")
	}
	return m, nil
}

// checkWorkflowFlow: the deploy steps live once, in deploy.yml, in the release flow's order;
// each deploy-<env>.yml only passes what differs, on its branches, in its own concurrency
// group; production behind its GitHub environment; the Hasura CLI pinned to the engine's
// version and reaching it through kubectl port-forward.
func checkWorkflowFlow(root, engineVersion string) []error {
	var errs []error
	wf := filepath.Join(root, ".github/workflows")
	ci, err := readYAML(filepath.Join(wf, "ci.yml"))
	if err != nil {
		return []error{err}
	}
	if get(ci, "on", "pull_request") == nil && !hasKey(ci["on"], "pull_request") || !slices.Equal(strList(get(ci, "on", "push", "branches")), []string{"master"}) {
		errs = append(errs, errors.New("ci.yml: must run on pull requests and pushes to master"))
	}
	if !strings.Contains(fmt.Sprint(get(ci, "jobs", "test", "steps")), "bash .ci/run") {
		errs = append(errs, errors.New("ci.yml: must run bash .ci/run"))
	}

	d, err := readYAML(filepath.Join(wf, "deploy.yml"))
	if err != nil {
		return []error{err}
	}
	inputs, _ := get(d, "on", "workflow_call", "inputs").(map[string]any)
	wantInputs := []string{"environment", "namespace", "overlay", "secret_prefix"}
	if got := keys(inputs); !slices.Equal(got, wantInputs) {
		errs = append(errs, fmt.Errorf("deploy.yml: workflow_call inputs %q, want %q", got, wantInputs))
	}
	job, _ := get(d, "jobs", "deploy").(map[string]any)
	if str(job["environment"]) != "${{ inputs.environment }}" {
		errs = append(errs, errors.New("deploy.yml: the job must run in the GitHub environment it is given"))
	}
	if v := str(get(d, "env", "HASURA_CLI_VERSION")); v != engineVersion {
		errs = append(errs, fmt.Errorf("deploy.yml: HASURA_CLI_VERSION %q, want the engine's %q", v, engineVersion))
	}
	if ep := str(get(d, "env", "HASURA_GRAPHQL_ENDPOINT")); !strings.HasPrefix(ep, "http://127.0.0.1:") {
		errs = append(errs, fmt.Errorf("deploy.yml: HASURA_GRAPHQL_ENDPOINT %q must be the port-forward on 127.0.0.1", ep))
	}
	steps, _ := job["steps"].([]any)
	var ids []string
	byID := map[string]map[string]any{}
	for _, s := range steps {
		m, _ := s.(map[string]any)
		ids = append(ids, str(m["id"]))
		byID[str(m["id"])] = m
	}
	if !slices.Equal(ids, deploySteps) {
		errs = append(errs, fmt.Errorf("deploy.yml: steps %q, want %q", ids, deploySteps))
	}
	expect := map[string][]string{
		"checkout":      {"actions/checkout@"},
		"slack-start":   {"deploy/slack-notify.sh started"},
		"aws":           {"aws-actions/configure-aws-credentials@", "role-to-assume"},
		"ecr":           {"aws-actions/amazon-ecr-login@"},
		"build":         {"loyalty-functions:Dockerfile", "loyalty-app:app/Dockerfile", "docker build", "docker push", "$TAG"},
		"sync-env":      {"deploy/sync-env.sh", "kubectl apply -f"},
		"deploy":        {"deploy/release-kustomization.sh", "kubectl apply -k", "rollout status deployment/hasura", "rollout status deployment/app", "ksvc/functions"},
		"hasura-cli":    {"$HASURA_CLI_VERSION", "port-forward svc/hasura"},
		"migrate":       {"hasura migrate apply"},
		"metadata":      {"hasura metadata apply"},
		"inconsistency": {"hasura metadata inconsistency list", "exit 1"},
		"slack-result":  {"deploy/slack-notify.sh", "job.status"},
	}
	for id, needles := range expect {
		text := fmt.Sprint(byID[id])
		for _, n := range needles {
			if !strings.Contains(text, n) {
				errs = append(errs, fmt.Errorf("deploy.yml: step %s must contain %q", id, n))
			}
		}
	}
	if str(byID["slack-result"]["if"]) != "always()" {
		errs = append(errs, errors.New("deploy.yml: the result notice must run always, success or failure"))
	}
	// The sync step passes every setting the script syncs.
	want, err := syncKeys(root)
	if err != nil {
		errs = append(errs, err)
	}
	passed := map[string]bool{}
	for k := range mapOf(job["env"]) {
		passed[k] = true
	}
	for k := range mapOf(byID["sync-env"]["env"]) {
		passed[k] = true
	}
	for _, k := range want {
		if !passed[k] {
			errs = append(errs, fmt.Errorf("deploy.yml: the sync-env step does not pass %s", k))
		}
	}

	for _, env := range environments {
		w, err := readYAML(filepath.Join(wf, env.workflow))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		name := env.workflow
		if b := strList(get(w, "on", "push", "branches")); !slices.Equal(b, []string{env.branch}) {
			errs = append(errs, fmt.Errorf("%s: branches %q, want [%s]", name, b, env.branch))
		}
		if g := str(get(w, "concurrency", "group")); g != "deploy-"+env.github || get(w, "concurrency", "cancel-in-progress") != false {
			errs = append(errs, fmt.Errorf("%s: concurrency group %q, want deploy-%s without cancel-in-progress", name, g, env.github))
		}
		if ks := keys(mapOf(w["jobs"])); !slices.Equal(ks, []string{"deploy", "test"}) {
			errs = append(errs, fmt.Errorf("%s: jobs %q, want only test and deploy (the steps live in deploy.yml)", name, ks))
		}
		if str(get(w, "jobs", "test", "uses")) != "./.github/workflows/ci.yml" || str(get(w, "jobs", "deploy", "needs")) != "test" {
			errs = append(errs, fmt.Errorf("%s: the deploy must need the tests (ci.yml)", name))
		}
		if str(get(w, "jobs", "deploy", "uses")) != "./.github/workflows/deploy.yml" || str(get(w, "jobs", "deploy", "secrets")) != "inherit" {
			errs = append(errs, fmt.Errorf("%s: the deploy job must call ./.github/workflows/deploy.yml with secrets: inherit", name))
		}
		with := mapOf(get(w, "jobs", "deploy", "with"))
		wantWith := map[string]string{"environment": env.github, "overlay": env.overlay, "namespace": env.namespace, "secret_prefix": env.prefix}
		for k, v := range wantWith {
			if got := fmt.Sprint(with[k]); got != v {
				errs = append(errs, fmt.Errorf("%s: with.%s = %q, want %q", name, k, got, v))
			}
		}
		if len(with) != len(wantWith) {
			errs = append(errs, fmt.Errorf("%s: passes %q, want only %q", name, keys(with), keys(anyMap(wantWith))))
		}
		k, err := readYAML(filepath.Join(root, "deploy", env.overlay, "kustomization.yaml"))
		if err != nil || str(k["namespace"]) != env.namespace {
			errs = append(errs, fmt.Errorf("deploy/%s: namespace %q, want %q (the workflow's)", env.overlay, str(k["namespace"]), env.namespace))
		}
	}
	return errs
}

func hasKey(v any, k string) bool { _, ok := mapOf(v)[k]; return ok }

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

func anyMap(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func strList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// ---- docker compose ---------------------------------------------------------------------

// checkCompose loads docker-compose.yaml with compose-go (its schema and interpolation) and
// checks the stack: PostgreSQL 15, Hasura cli-migrations-v3 at the engine's version with the
// project mounted and every variable the metadata names, the functions and the app built from
// their Dockerfiles, health checks, depends_on conditions, ports on 127.0.0.1 only.
func checkCompose(root, engineVersion string) []error {
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yaml")},
		cli.WithWorkingDirectory(root), cli.WithEnv([]string{}), cli.WithName("loyalty"))
	if err != nil {
		return []error{err}
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		return []error{fmt.Errorf("compose: %w", err)}
	}
	var errs []error
	svc := func(name string) types.ServiceConfig {
		s, ok := p.Services[name]
		if !ok {
			errs = append(errs, fmt.Errorf("compose: no service %s", name))
		}
		return s
	}
	pg, hasura, functions, app := svc("postgres"), svc("hasura"), svc("functions"), svc("app")
	if !strings.HasPrefix(pg.Image, "postgres:15") {
		errs = append(errs, fmt.Errorf("compose: postgres image %q, want postgres:15", pg.Image))
	}
	if want := "hasura/graphql-engine:" + engineVersion + ".cli-migrations-v3"; hasura.Image != want {
		errs = append(errs, fmt.Errorf("compose: hasura image %q, want %q (the version deploy/base pins)", hasura.Image, want))
	}
	mounts := map[string]string{}
	for _, v := range hasura.Volumes {
		mounts[v.Target] = filepath.ToSlash(v.Source)
	}
	for target, src := range map[string]string{"/hasura-metadata": "hasura/metadata", "/hasura-migrations": "hasura/migrations", "/hasura-seeds": "hasura/seeds"} {
		if !strings.HasSuffix(mounts[target], src) {
			errs = append(errs, fmt.Errorf("compose: hasura must mount ./%s at %s", src, target))
		}
	}
	names, err := metadataEnv(root)
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range append(names, "HASURA_GRAPHQL_METADATA_DATABASE_URL", "HASURA_GRAPHQL_ADMIN_SECRET", "HASURA_GRAPHQL_JWT_SECRET", "HASURA_GRAPHQL_UNAUTHORIZED_ROLE") {
		if v, ok := hasura.Environment[n]; !ok || v == nil || *v == "" {
			errs = append(errs, fmt.Errorf("compose: hasura lacks %s", n))
		}
	}
	if u := hasura.Environment["FUNCTIONS_BASE_URL"]; u != nil && (strings.Contains(*u, "localhost") || strings.Contains(*u, "127.0.0.1")) {
		errs = append(errs, fmt.Errorf("compose: FUNCTIONS_BASE_URL %q is the engine's own container", *u))
	}
	for name, dockerfile := range map[string]string{"functions": "Dockerfile", "app": "app/Dockerfile"} {
		s := p.Services[name]
		if s.Build == nil || filepath.ToSlash(s.Build.Dockerfile) != dockerfile {
			errs = append(errs, fmt.Errorf("compose: %s must be built from %s", name, dockerfile))
		}
		if _, err := os.Stat(filepath.Join(root, dockerfile)); err != nil {
			errs = append(errs, fmt.Errorf("compose: %w", err))
		}
	}
	for name, s := range p.Services {
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 || s.HealthCheck.Disable {
			errs = append(errs, fmt.Errorf("compose: %s has no health check", name))
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				errs = append(errs, fmt.Errorf("compose: %s publishes %s on %q, want 127.0.0.1", name, port.Published, port.HostIP))
			}
		}
	}
	for _, dep := range [][2]string{{"hasura", "postgres"}, {"hasura", "functions"}, {"functions", "postgres"}} {
		if c := p.Services[dep[0]].DependsOn[dep[1]].Condition; c != types.ServiceConditionHealthy {
			errs = append(errs, fmt.Errorf("compose: %s must wait for %s to be healthy (condition %q)", dep[0], dep[1], c))
		}
	}
	_ = functions
	_ = app
	return errs
}

// ---- shell scripts ----------------------------------------------------------------------

func shellScripts(root string) []string {
	var files []string
	for _, pattern := range []string{"deploy/*.sh", "scripts/*.sh"} {
		found, _ := filepath.Glob(filepath.Join(root, pattern))
		files = append(files, found...)
	}
	return append(files, filepath.Join(root, ".ci/run"))
}

// checkShell runs shellcheck on every shell script of the repository (the deploy and
// development scripts, .ci/run). ok is false when shellcheck is not installed
// (scripts/install-deps.sh installs it for make test).
func checkShell(root string) (errs []error, ok bool) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		return nil, false
	}
	out, err := exec.Command(sc, append([]string{"--shell=bash", "--external-sources"}, shellScripts(root)...)...).CombinedOutput()
	if err != nil {
		return []error{fmt.Errorf("shellcheck: %v\n%s", err, out)}, true
	}
	return nil, true
}

// ---- tests ------------------------------------------------------------------------------

// checkEnvironment runs every check of one overlay under root.
func checkEnvironment(root string, env environment) []error {
	s, err := loadSchemas(root)
	if err != nil {
		return []error{err}
	}
	objs, err := render(root, "deploy/"+env.overlay)
	if err != nil {
		return []error{err}
	}
	synced, errs := checkSyncEnv(root, s)
	errs = append(errs, checkKnative(objs)...)
	errs = append(errs, checkGoRuntime(objs)...)
	errs = append(errs, s.check(objs)...)
	errs = append(errs, checkRoutes(objs)...)
	errs = append(errs, checkOverlay(env, objs)...)
	errs = append(errs, checkNetworkPolicies(objs)...)
	errs = append(errs, checkHasuraEnv(root, objs, synced)...)
	return errs
}

func engineVersion(t *testing.T, root string) string {
	t.Helper()
	objs, err := render(root, "deploy/prod")
	if err != nil {
		t.Fatal(err)
	}
	v := hasuraVersion(objs)
	if v == "" {
		t.Fatal("deploy/prod: no pinned hasura/graphql-engine image")
	}
	return v
}

func TestOverlays(t *testing.T) {
	for _, env := range environments {
		t.Run(env.overlay, func(t *testing.T) {
			if errs := checkEnvironment(repo, env); len(errs) > 0 {
				t.Errorf("deploy/%s:%s", env.overlay, errorList(errs))
			}
		})
	}
}

func TestSyncEnv(t *testing.T) {
	s, err := loadSchemas(repo)
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := checkSyncEnv(repo, s)
	if len(errs) > 0 {
		t.Fatal(errorList(errs))
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Kind+"/"+o.Name)
	}
	if want := []string{"Secret/functions-secrets", "Secret/hasura-secrets", "ConfigMap/functions-env"}; !slices.Equal(kinds, want) {
		t.Errorf("sync-env.sh wrote %q, want %q", kinds, want)
	}
	short := map[string]string{}
	for k, v := range fakeSettings {
		short[k] = v
	}
	short["MEMBER_QR_SECRET"] = "too-short"
	if _, stderr, err := runSync(repo, "x", short); err == nil || !strings.Contains(stderr, "MEMBER_QR_SECRET") {
		t.Errorf("a short MEMBER_QR_SECRET: err %v, stderr %q; want a failure naming it", err, stderr)
	}
	if _, _, err := runSync(repo, "", fakeSettings); err == nil {
		t.Error("no namespace: want a usage error")
	}
}

// The release wrapper the workflow writes sets the images and the settings' checksum, and
// the result still passes every check.
func TestReleaseKustomization(t *testing.T) {
	root := copyRepo(t)
	for _, env := range environments {
		out, err := exec.Command("bash", filepath.Join(root, "deploy/release-kustomization.sh"), env.overlay,
			"123456789012.dkr.ecr.ap-northeast-1.amazonaws.com", "0123456789abcdef0123456789abcdef01234567", "c0ffee1234567890").Output()
		if err != nil {
			t.Fatalf("%s: %v", env.overlay, err)
		}
		dir := filepath.Join(root, "deploy/release")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), out, 0o644); err != nil {
			t.Fatal(err)
		}
		objs, err := render(root, "deploy/release")
		if err != nil {
			t.Fatal(err)
		}
		s, _ := loadSchemas(root)
		errs := append(checkKnative(objs), s.check(objs)...)
		errs = append(errs, checkRoutes(objs)...)
		errs = append(errs, checkOverlay(env, objs)...)
		if len(errs) > 0 {
			t.Errorf("release of %s:%s", env.overlay, errorList(errs))
		}
		images := map[string]string{}
		for _, o := range objs {
			for _, path := range [][]any{{"spec", "template", "spec", "containers", 0, "image"}} {
				if img := str(get(o.Map, path...)); img != "" {
					images[o.Name] = img
				}
			}
			if o.Name == "hasura" && o.Kind == "Deployment" || o.Name == "functions" && o.Kind == "Service" {
				if got := str(get(o.Map, "spec", "template", "metadata", "annotations", "loyalty.kaiser-kitchen.com/env-checksum")); got != "c0ffee1234567890" {
					t.Errorf("%s %s: env-checksum %q", env.overlay, o, got)
				}
			}
		}
		for name, repoName := range map[string]string{"functions": "loyalty-functions", "app": "loyalty-app"} {
			if want := "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/" + repoName + ":0123456789abcdef0123456789abcdef01234567"; images[name] != want {
				t.Errorf("%s: %s image %q, want %q", env.overlay, name, images[name], want)
			}
		}
	}
	if err := exec.Command("bash", filepath.Join(root, "deploy/release-kustomization.sh"), "prod", "reg", "tag; rm -rf /", "x").Run(); err == nil {
		t.Error("a tag with shell characters must be refused")
	}
}

func TestWorkflows(t *testing.T) {
	if errs := lintWorkflows(repo); len(errs) > 0 {
		t.Error(errorList(errs))
	}
	if errs := checkWorkflowFlow(repo, engineVersion(t, repo)); len(errs) > 0 {
		t.Error(errorList(errs))
	}
}

func TestCompose(t *testing.T) {
	if errs := checkCompose(repo, engineVersion(t, repo)); len(errs) > 0 {
		t.Error(errorList(errs))
	}
}

func TestShellScripts(t *testing.T) {
	errs, ok := checkShell(repo)
	if !ok {
		t.Fatal("shellcheck is not installed: make test installs it (scripts/install-deps.sh), or apt-get install shellcheck")
	}
	if len(errs) > 0 {
		t.Error(errorList(errs))
	}
}

// copyRepo copies what the checks read into a temporary directory.
func copyRepo(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, p := range []string{"deploy", ".github", "hasura/metadata", ".ci", "docker-compose.yaml", "Dockerfile", "app/Dockerfile"} {
		if err := os.CopyFS(filepath.Join(dst, p), os.DirFS(filepath.Join(repo, p))); err != nil {
			// A file, not a directory.
			b, rerr := os.ReadFile(filepath.Join(repo, p))
			if rerr != nil {
				t.Fatal(err, rerr)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, p), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

// Each check fails on a deliberately broken copy, for the reason it exists.
func TestChecksCatchBrokenCopies(t *testing.T) {
	prod := environments[2]
	overlay := func(env environment) func(string) []error {
		return func(root string) []error { return checkEnvironment(root, env) }
	}
	workflows := func(root string) []error {
		return append(lintWorkflows(root), checkWorkflowFlow(root, engineVersion(t, root))...)
	}
	compose := func(root string) []error { return checkCompose(root, engineVersion(t, root)) }
	cases := []struct {
		name, file, old, new string
		check                func(string) []error
		want                 string
	}{
		{"kustomize build", "deploy/prod/kustomization.yaml", "  - ../base", "  - ../bsae", overlay(prod), "kustomize build"},
		{"knative strict decode", "deploy/base/functions.yaml", "timeoutSeconds: 300", "timeoutSecond: 300", overlay(prod), "strict decode"},
		{"knative validate", "deploy/base/functions.yaml", "containerConcurrency: 32", "containerConcurrency: 5000", overlay(prod), "Validate"},
		{"knative probes", "deploy/base/functions.yaml", "          livenessProbe:\n            httpGet:\n              path: /healthz", "          livenessProbe:\n            httpGet:\n              path: /", overlay(prod), "probes on /healthz"},
		{"go memory limit over the container's", "deploy/base/functions.yaml", "GOMEMLIMIT: 200MiB", "GOMEMLIMIT: 256MiB", overlay(prod), "not below the container's memory limit"},
		{"go memory limit in Kubernetes' syntax", "deploy/base/functions.yaml", "GOMEMLIMIT: 200MiB", "GOMEMLIMIT: 200Mi", overlay(prod), "not in Go's syntax"},
		{"schema: unknown field", "deploy/base/hasura.yaml", "revisionHistoryLimit: 5", "revisionHistoryLimits: 5", overlay(prod), "schema apps/v1 Deployment hasura"},
		{"schema: wrong type", "deploy/base/app.yaml", "containerPort: 8080", "containerPort: http", overlay(prod), "schema apps/v1 Deployment app"},
		{"schema: KongPlugin", "deploy/base/kong.yaml", "plugin: cors", "plugins: cors", overlay(prod), "schema configuration.konghq.com/v1 KongPlugin loyalty-cors"},
		{"schema: PodDisruptionBudget", "deploy/base/hasura.yaml", "  maxUnavailable: 1\n", "  maxUnavailable: 1\n  minAvailable: true\n", overlay(prod), "schema policy/v1 PodDisruptionBudget hasura"},
		{"schema: NetworkPolicy", "deploy/base/network-policy.yaml", `policyTypes: ["Ingress"]`, `policyType: ["Ingress"]`, overlay(prod), "schema networking.k8s.io/v1 NetworkPolicy functions-ingress"},
		{"functions reachable from any pod", "deploy/base/network-policy.yaml", "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: hasura\n", "        - podSelector: {}\n", overlay(prod), "lets app reach the functions"},
		{"functions reachable from anywhere", "deploy/base/network-policy.yaml", "  ingress:\n    - from:\n", "  ingress:\n    - {}\n    - from:\n", overlay(prod), "lets every source reach the functions"},
		{"functions reachable from another namespace", "deploy/base/network-policy.yaml", "kubernetes.io/metadata.name: kourier-system", "kubernetes.io/metadata.name: default", overlay(prod), "only Knative's may"},
		{"hasura kept from the functions", "deploy/base/network-policy.yaml", "              app.kubernetes.io/name: hasura\n", "              app.kubernetes.io/name: hasrua\n", overlay(prod), "keep Hasura from reaching the functions"},
		{"metrics open to every namespace", "deploy/base/network-policy.yaml", "              kubernetes.io/metadata.name: monitoring\n", "              kubernetes.io/metadata.name: monitoring\n        - namespaceSelector: {}\n", overlay(prod), "lets more than namespace monitoring scrape"},
		{"the app reaches the database", "deploy/base/network-policy.yaml", `values: ["functions", "hasura"]`, `values: ["functions", "hasura", "app"]`, overlay(prod), "app may connect to PostgreSQL"},
		{"every port open to the app", "deploy/base/network-policy.yaml", "    - ports:\n        - protocol: TCP\n          port: 443\n", "    - {}\n", overlay(prod), "app may connect to PostgreSQL"},
		{"functions public", "deploy/base/functions.yaml", "    networking.knative.dev/visibility: cluster-local\n", "", overlay(environments[0]), "cluster-local"},
		{"graphql prefix", "deploy/base/kong.yaml", "path: /v1/graphql\n            pathType: Exact", "path: /v1\n            pathType: Prefix", overlay(prod), "/v1/metadata reaches hasura"},
		{"route to functions", "deploy/base/kong.yaml", "                name: app\n", "                name: functions\n", overlay(prod), "public routes"},
		{"no ingress class", "deploy/base/kong.yaml", "ingressClassName: kong", "ingressClassName: nginx", overlay(prod), "ingressClassName must be kong"},
		{"no CORS plugin", "deploy/base/kong.yaml", "konghq.com/plugins: loyalty-rate-limit,loyalty-cors", "konghq.com/plugins: loyalty-rate-limit", overlay(prod), "rate-limiting and cors"},
		{"LoadBalancer", "deploy/base/hasura.yaml", "  type: ClusterIP", "  type: LoadBalancer", overlay(prod), "exposes it outside"},
		{"prod cold starts", "deploy/prod/kustomization.yaml", "min-scale\n        value: \"2\"", "min-scale\n        value: \"0\"", overlay(prod), "min-scale 0, want >= 1"},
		{"prod one hasura", "deploy/prod/kustomization.yaml", "  - name: hasura\n    count: 2", "  - name: hasura\n    count: 1", overlay(prod), "Hasura replicas 1"},
		{"stag allow list off", "deploy/stag/kustomization.yaml", "path: /data/HASURA_GRAPHQL_ENABLE_ALLOWLIST\n        value: \"true\"", "path: /data/HASURA_GRAPHQL_ENABLE_ALLOWLIST\n        value: \"false\"", overlay(environments[1]), "HASURA_GRAPHQL_ENABLE_ALLOWLIST=\"false\""},
		{"prod allow list missing", "deploy/prod/kustomization.yaml", "path: /data/HASURA_GRAPHQL_ENABLE_ALLOWLIST", "path: /data/HASURA_GRAPHQL_ENABLE_ALLOWLISTS", overlay(prod), "HASURA_GRAPHQL_ENABLE_ALLOWLIST=\"\""},
		{"wrong functions URL", "deploy/stag/kustomization.yaml", "value: http://functions.loyalty-stag.svc.cluster.local", "value: http://functions.loyalty.svc.cluster.local", overlay(environments[1]), "FUNCTIONS_BASE_URL"},
		{"hasura lacks ACTION_SECRET", "deploy/sync-env.sh", "HASURA_GRAPHQL_JWT_SECRET:1 ACTION_SECRET:1)", "HASURA_GRAPHQL_JWT_SECRET:1)", overlay(prod), "hasura: ACTION_SECRET is not in the engine's environment"},
		{"sync output invalid", "deploy/sync-env.sh", `printf 'type: Opaque\ndata:\n'`, `printf 'typ: Opaque\ndata:\n'`, overlay(prod), "schema v1 Secret functions-secrets"},
		{"sync drops a value", "deploy/sync-env.sh", "functions_env=(AWS_REGION:0 COGNITO_USER_POOL_ID:0 S3_BUCKET:0)", "functions_env=(AWS_REGION:0 COGNITO_USER_POOL_ID:0)", overlay(prod), "S3_BUCKET was not synced"},
		{"actionlint", ".github/workflows/deploy.yml", "${{ steps.ecr.outputs.registry }}", "${{ steps.ecrr.outputs.registry }}", workflows, "actionlint deploy.yml"},
		{"step order", ".github/workflows/deploy.yml", "- id: migrate", "- id: migrations", workflows, "deploy.yml: steps"},
		{"result notice not always", ".github/workflows/deploy.yml", "        if: always()\n", "", workflows, "must run always"},
		{"sync step misses a secret", ".github/workflows/deploy.yml", "          S3_BUCKET: ${{ secrets[format('{0}S3_BUCKET', inputs.secret_prefix)] }}\n", "", workflows, "does not pass S3_BUCKET"},
		{"production without its environment", ".github/workflows/deploy-production.yml", "environment: production", "environment: staging", workflows, "with.environment"},
		{"shared concurrency", ".github/workflows/deploy-staging.yml", "group: deploy-staging", "group: deploy", workflows, "concurrency group"},
		{"steps copied into a caller", ".github/workflows/deploy-develop.yml", "jobs:\n", "jobs:\n  extra:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n", workflows, "want only test and deploy"},
		{"CLI version drift", ".github/workflows/deploy.yml", "HASURA_CLI_VERSION: v2.48.3", "HASURA_CLI_VERSION: v2.40.0", workflows, "HASURA_CLI_VERSION"},
		{"compose schema", "docker-compose.yaml", "condition: service_healthy\n      functions:", "condition: healthy\n      functions:", compose, "compose:"},
		{"compose version drift", "docker-compose.yaml", "graphql-engine:v2.48.3.cli-migrations-v3", "graphql-engine:v2.47.0.cli-migrations-v3", compose, "hasura image"},
		{"compose public port", "docker-compose.yaml", `"127.0.0.1:${COMPOSE_PG_PORT:-5432}:5432"`, `"${COMPOSE_PG_PORT:-5432}:5432"`, compose, "want 127.0.0.1"},
		{"compose lacks a template var", "docker-compose.yaml", "      FUNCTIONS_BASE_URL: http://functions:8080\n", "", compose, "hasura lacks FUNCTIONS_BASE_URL"},
		{"compose no health check", "docker-compose.yaml", "      test: [\"CMD\", \"/probe\", \"http://127.0.0.1:8080/healthz\"]\n      interval: 5s", "      disable: true\n      interval: 5s", compose, "app has no health check"},
	}
	if _, err := exec.LookPath("shellcheck"); err == nil {
		cases = append(cases, struct {
			name, file, old, new string
			check                func(string) []error
			want                 string
		}{"shellcheck", "deploy/sync-env.sh", "namespace=$1\n", "namespace=$1\ncd $HOME\n", func(root string) []error { errs, _ := checkShell(root); return errs }, "SC2086"})
	} else {
		t.Log("shellcheck is not installed here: its broken copy is not tried (.ci/run installs it)")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := copyRepo(t)
			path := filepath.Join(root, c.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), c.old) {
				t.Fatalf("%s no longer contains %q: update this case", c.file, c.old)
			}
			if err := os.WriteFile(path, []byte(strings.Replace(string(b), c.old, c.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			errs := c.check(root)
			if !strings.Contains(errorList(errs), c.want) {
				t.Errorf("broken %s: want an error containing %q, got:%s", c.file, c.want, errorList(errs))
			}
		})
	}
}
