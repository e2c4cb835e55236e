// Package hasura embeds the Hasura CLI project (migrations, seeds, metadata) so that the
// functions' tests, the contract test and `make dev` use exactly the files the Hasura CLI
// applies in staging and production.
package hasura

import (
	"embed"
	"io/fs"
)

//go:embed migrations seeds metadata
var files embed.FS

// Migrations is the migration tree of the default database: <version>_<name>/{up,down}.sql.
func Migrations() fs.FS { return sub("migrations/default") }

// Seeds holds the seed files of the default database, applied in name order.
func Seeds() fs.FS { return sub("seeds/default") }

// Metadata is the metadata directory in the layout `hasura metadata export` writes.
func Metadata() fs.FS { return sub("metadata") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // only on a malformed literal path above
	}
	return f
}
