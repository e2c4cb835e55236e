// Command loyaltyctl is the operators' tool (docs/loyaltyctl.md): images, imports, hotfixes,
// invariant checks, failure replay and the liability report, against DATABASE_URL.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := ctl.Main(ctx, ctl.NewFactory(ctl.System()), os.Args[1:])
	stop()
	os.Exit(code)
}
