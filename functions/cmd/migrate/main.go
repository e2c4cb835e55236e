// Command migrate applies the Hasura migrations (hasura/migrations/default) to the database at
// DATABASE_URL with the project's own applier, for `make dev` and local work:
//
//	migrate [-seeds] [-down]
//
// It records applied versions in the schema local_migrate, so a second run applies only what
// is new. -seeds then runs hasura/seeds/default (re-runnable). -down rolls every applied
// migration back, newest first. Staging and production use `hasura migrate apply` instead
// (docs/operators.md): never point this at a database the Hasura CLI manages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/migrate"
	"github.com/kaiser-kitchen/loyalty-point-backend/hasura"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv("DATABASE_URL"), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
}

// errUsage is returned for bad flags; the flag package has printed why.
var errUsage = errors.New("usage: migrate [-seeds] [-down]  (reads DATABASE_URL)")

func run(ctx context.Context, args []string, databaseURL string, out io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(out)
	seeds := fs.Bool("seeds", false, "after migrating up, run the seed files (re-runnable)")
	down := fs.Bool("down", false, "roll back every applied migration, newest first")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), errUsage.Error())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; %w", fs.Args(), errUsage)
	}
	if *down && *seeds {
		return errors.New("-down and -seeds do not go together")
	}
	if databaseURL == "" {
		return errors.New("DATABASE_URL is not set")
	}

	migrations, err := migrate.Load(hasura.Migrations())
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := pgx.Connect(cctx, databaseURL)
	cancel()
	if err != nil {
		return fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer conn.Close(context.Background())

	if *down {
		if err := migrate.Down(ctx, conn, migrations); err != nil {
			return err
		}
		fmt.Fprintf(out, "rolled back every applied migration (%d known)\n", len(migrations))
		return nil
	}

	applied, err := migrate.Up(ctx, conn, migrations)
	names := make(map[int64]string, len(migrations))
	for _, m := range migrations {
		names[m.Version] = m.Name
	}
	for _, v := range applied {
		fmt.Fprintf(out, "applied %d_%s\n", v, names[v])
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(out, "migrations up to date (%d applied)\n", len(migrations))
	}
	if *seeds {
		if err := migrate.Seed(ctx, conn, hasura.Seeds()); err != nil {
			return err
		}
		files, _ := iofs.Glob(hasura.Seeds(), "*.sql")
		fmt.Fprintf(out, "seeds applied: %s\n", strings.Join(files, ", "))
	}
	return nil
}
