// Command loyaltyctl is the operators' tool (docs/loyaltyctl.md): images, imports, hotfixes,
// invariant checks, failure replay and the liability report, against DATABASE_URL.
package main

import (
	"context"
	"os"
	"os/signal"
	"strings"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/ctl"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry"
)

func main() {
	// The trace resource is read from the process environment (telemetry.SetupTracing).
	if name := serviceName(os.Getenv); name != "" {
		_ = os.Setenv("OTEL_SERVICE_NAME", name)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := ctl.Main(ctx, ctl.NewFactory(ctl.System()), os.Args[1:])
	stop()
	os.Exit(code)
}

// serviceName is the service name to give the traces when they are exported and the
// operator named none (OTEL_SERVICE_NAME, or service.name in OTEL_RESOURCE_ATTRIBUTES):
// loyaltyctl, not the functions' default. "" leaves the environment alone.
func serviceName(getenv func(string) string) string {
	if !telemetry.TracingEnabled(getenv) || getenv("OTEL_SERVICE_NAME") != "" {
		return ""
	}
	for _, kv := range strings.Split(getenv("OTEL_RESOURCE_ATTRIBUTES"), ",") {
		if k, _, ok := strings.Cut(kv, "="); ok && strings.TrimSpace(k) == "service.name" {
			return ""
		}
	}
	return "loyaltyctl"
}
