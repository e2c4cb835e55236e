package contract

import (
	"sort"
	"strings"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
)

const (
	// BaseURLTemplate is how every handler URL starts: Hasura fills it from its env
	// FUNCTIONS_BASE_URL (the functions service's cluster-local URL).
	BaseURLTemplate = "{{FUNCTIONS_BASE_URL}}"
	// SecretEnv is the engine env var the X-Action-Secret header takes its value from.
	SecretEnv = "ACTION_SECRET"
)

// HandlerURL is the only URL the metadata may give the handler of name.
func HandlerURL(name string) string { return BaseURLTemplate + "/" + name }

// Declaration is an action, event trigger or cron trigger the metadata declares.
type Declaration struct {
	Name  string
	Kind  routes.Kind
	Where string
}

// Declarations lists every action, event trigger and cron trigger of m.
func (m *Metadata) Declarations() []Declaration {
	var out []Declaration
	for _, a := range m.Actions {
		out = append(out, Declaration{a.Name, routes.Action, "action " + a.Name})
	}
	for _, src := range m.Sources {
		for _, t := range src.Tables {
			for _, et := range t.EventTriggers {
				out = append(out, Declaration{et.Name, routes.EventTrigger, "event trigger " + et.Name})
			}
		}
	}
	for _, c := range m.CronTriggers {
		out = append(out, Declaration{c.Name, routes.CronTrigger, "cron trigger " + c.Name})
	}
	return out
}

var kindNames = map[routes.Kind]string{
	routes.Action:       "an action",
	routes.EventTrigger: "an event trigger",
	routes.CronTrigger:  "a cron trigger",
}

// CheckRoutes reports declarations without a route of their kind in the route table, and
// routes that nothing declares: Hasura would call a handler that is not there, or a handler
// would wait for calls that never come.
func CheckRoutes(m *Metadata, table []routes.Route) []Problem {
	var ps problems
	byName := map[string]routes.Route{}
	for _, r := range table {
		if _, dup := byName[r.Name]; dup {
			ps.add("route "+r.Name, "is in the route table twice")
		}
		byName[r.Name] = r
	}
	declared := map[string]Declaration{}
	for _, d := range m.Declarations() {
		if other, dup := declared[d.Name]; dup {
			ps.add(d.Where, "shares its name with %s: both would be served at POST /%s", other.Where, d.Name)
			continue
		}
		declared[d.Name] = d
		r, ok := byName[d.Name]
		switch {
		case !ok:
			ps.add(d.Where, "has no route in the route table (routes.Table): Hasura would call POST /%s and get 404", d.Name)
		case r.Kind != d.Kind:
			ps.add(d.Where, "is served by a route of kind %s, which decodes %s's payload, not %s's", r.Kind, kindNames[r.Kind], kindNames[d.Kind])
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := declared[n]; !ok {
			ps.add("route "+n, "(%s) has no declaration in the metadata, so Hasura never calls it", byName[n].Kind)
		}
	}
	return ps
}

// CheckWiring reports handler URLs that are not exactly {{FUNCTIONS_BASE_URL}}/<name>, a shared
// secret header that is missing, literal or not from ACTION_SECRET, client headers forwarded
// to a handler (a client could then override the secret), triggers without retries, cron
// triggers left out of the metadata, and a database URL that is not read from the env.
func CheckWiring(m *Metadata) []Problem {
	var ps problems
	for _, a := range m.Actions {
		where := "action " + a.Name
		checkURL(&ps, where, "handler", a.Definition.Handler, a.Name)
		if a.Definition.ForwardClientHeaders {
			ps.add(where, "forward_client_headers is true: a client header would override %s", hasura.SecretHeader)
		}
		checkHeaders(&ps, where, a.Definition.Headers)
		if a.Definition.Timeout < 0 {
			ps.add(where, "timeout %d is negative", a.Definition.Timeout)
		}
	}
	for _, src := range m.Sources {
		where := "database " + src.Name
		if u := src.Configuration.ConnectionInfo.DatabaseURL; u.FromEnv == "" {
			ps.add(where, "database_url must be {from_env: ...}: a URL in the metadata commits its password")
		}
		for _, t := range src.Tables {
			for _, et := range t.EventTriggers {
				where := "event trigger " + et.Name
				if et.WebhookFromEnv != "" {
					ps.add(where, "uses webhook_from_env %s; use webhook: '%s'", et.WebhookFromEnv, HandlerURL(et.Name))
				}
				checkURL(&ps, where, "webhook", et.Webhook, et.Name)
				checkHeaders(&ps, where, et.Headers)
				if rc := et.RetryConf; rc == nil || rc.NumRetries < 1 {
					ps.add(where, "retry_conf.num_retries must be at least 1: a delivery that fails once would be lost")
				} else if rc.IntervalSec < 1 || rc.TimeoutSec < 1 {
					ps.add(where, "retry_conf needs a positive interval_sec and timeout_sec")
				}
			}
		}
	}
	for _, c := range m.CronTriggers {
		where := "cron trigger " + c.Name
		checkURL(&ps, where, "webhook", c.Webhook, c.Name)
		checkHeaders(&ps, where, c.Headers)
		if !c.IncludeInMetadata {
			ps.add(where, "include_in_metadata is false: Hasura would not keep it in its metadata")
		}
		if fields := strings.Fields(c.Schedule); len(fields) != 5 {
			ps.add(where, "schedule %q is not a five-field cron expression", c.Schedule)
		}
		if rc := c.RetryConf; rc == nil || rc.NumRetries < 1 {
			ps.add(where, "retry_conf.num_retries must be at least 1: a failed daily run would wait a day")
		} else if rc.TimeoutSeconds < 1 || rc.ToleranceSeconds < 1 || rc.RetryIntervalSeconds < 1 {
			ps.add(where, "retry_conf needs positive retry_interval_seconds, timeout_seconds and tolerance_seconds")
		}
	}
	return ps
}

func checkURL(ps *problems, where, key, got, name string) {
	if want := HandlerURL(name); got != want {
		ps.add(where, "%s is %q, want %q", key, got, want)
	}
}

func checkHeaders(ps *problems, where string, headers []Header) {
	secrets := 0
	for _, h := range headers {
		if h.Value != "" && h.ValueFromEnv != "" {
			ps.add(where, "header %s sets both value and value_from_env", h.Name)
		}
		if strings.HasPrefix(h.ValueFromEnv, "HASURA_GRAPHQL_") {
			ps.add(where, "header %s takes its value from %s; Hasura refuses env vars named HASURA_GRAPHQL_*", h.Name, h.ValueFromEnv)
		}
		if !strings.EqualFold(h.Name, hasura.SecretHeader) {
			continue
		}
		secrets++
		switch {
		case h.Value != "":
			ps.add(where, "header %s has a literal value: the secret must come from value_from_env %s", h.Name, SecretEnv)
		case h.ValueFromEnv != SecretEnv:
			ps.add(where, "header %s takes its value from %q, want value_from_env %s", h.Name, h.ValueFromEnv, SecretEnv)
		}
	}
	if secrets != 1 {
		ps.add(where, "must send header %s (value_from_env %s) exactly once, sends it %d times", hasura.SecretHeader, SecretEnv, secrets)
	}
}
