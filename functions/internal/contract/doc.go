// Package contract keeps the Hasura metadata (hasura/metadata) true to the things it names:
// the route table of the functions binary, the Go input and output types of the actions, the
// migrated database, and the product's roles and permissions.
//
// Hasura cannot run in the tests, so this is the guard: Load reads the metadata the way the
// Hasura CLI does (resolving "!include"), ReadCatalog reads a migrated database, and each
// Check function compares two of them and returns the Problems it finds. The checks are
// plain functions over values, so a test can feed them a deliberately broken copy and see
// them fail.
package contract

import "fmt"

// Problem is one way the metadata disagrees with what it names.
type Problem struct {
	Where string // the metadata object: "action earnPoints", "table public.orders", ...
	What  string
}

func (p Problem) String() string { return p.Where + ": " + p.What }

// problems collects Problems.
type problems []Problem

func (ps *problems) add(where, format string, args ...any) {
	*ps = append(*ps, Problem{Where: where, What: fmt.Sprintf(format, args...)})
}
