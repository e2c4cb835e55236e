// Package migrate applies the Hasura CLI's migration files to a database, for tests and local
// runs. Staging and production use `hasura migrate apply`; both read the same files.
//
// Applied versions are recorded in the schema local_migrate, never in hdb_catalog, so the
// engine's own catalogue is left alone. Do not point it at a database the Hasura CLI manages.
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Migration is one <version>_<name> directory.
type Migration struct {
	Version int64
	Name    string
	Up      string
	Down    string
}

var dirName = regexp.MustCompile(`^(\d+)_(.+)$`)

// Load reads every migration directory of fsys, in version order.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int64]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		m := dirName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration directory %q is not <version>_<name>", e.Name())
		}
		version, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration directory %q: %w", e.Name(), err)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", other, e.Name(), version)
		}
		seen[version] = e.Name()
		up, err := fs.ReadFile(fsys, path.Join(e.Name(), "up.sql"))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		down, err := fs.ReadFile(fsys, path.Join(e.Name(), "down.sql"))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: version, Name: m[2], Up: string(up), Down: string(down)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// lockKey serialises concurrent appliers on one database (two `make dev`s, say).
const lockKey = 7305171623

const bookkeeping = `
CREATE SCHEMA IF NOT EXISTS local_migrate;
CREATE TABLE IF NOT EXISTS local_migrate.applied (
    version    bigint PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// Up applies, each in its own transaction, every migration not yet recorded, and returns
// the versions it applied.
func Up(ctx context.Context, conn *pgx.Conn, migrations []Migration) ([]int64, error) {
	unlock, err := lock(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer unlock()
	done, err := appliedVersions(ctx, conn)
	if err != nil {
		return nil, err
	}
	var applied []int64
	for _, m := range migrations {
		if done[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.Up); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO local_migrate.applied (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %d_%s up: %w", m.Version, m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// Down rolls back every applied migration, newest first, and drops the bookkeeping schema,
// leaving the database as it was before the first Up.
func Down(ctx context.Context, conn *pgx.Conn, migrations []Migration) error {
	unlock, err := lock(ctx, conn)
	if err != nil {
		return err
	}
	defer unlock()
	done, err := appliedVersions(ctx, conn)
	if err != nil {
		return err
	}
	for i := len(migrations) - 1; i >= 0; i-- {
		m := migrations[i]
		if !done[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.Down); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM local_migrate.applied WHERE version = $1`, m.Version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d_%s down: %w", m.Version, m.Name, err)
		}
	}
	_, err = conn.Exec(ctx, `DROP SCHEMA local_migrate CASCADE`)
	return err
}

// Seed runs every .sql file of fsys in name order, in one transaction. Seed files are
// written to be re-runnable (ON CONFLICT DO NOTHING), as `hasura seed apply` may run twice.
func Seed(ctx context.Context, conn *pgx.Conn, fsys fs.FS) error {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, name := range names {
			sql, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("seed %s: %w", name, err)
			}
		}
		return nil
	})
}

func lock(ctx context.Context, conn *pgx.Conn) (func(), error) {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	return func() {
		// A fresh context: the caller's may be done, and the lock must not outlive us.
		_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, lockKey)
	}, nil
}

func appliedVersions(ctx context.Context, conn *pgx.Conn) (map[int64]bool, error) {
	if _, err := conn.Exec(ctx, bookkeeping); err != nil {
		return nil, fmt.Errorf("prepare local_migrate: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT version FROM local_migrate.applied`)
	if err != nil {
		return nil, err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	done := make(map[int64]bool, len(versions))
	for _, v := range versions {
		done[v] = true
	}
	return done, nil
}
