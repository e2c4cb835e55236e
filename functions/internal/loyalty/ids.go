package loyalty

import "github.com/google/uuid"

// newID is the id of a row the programme writes (an order, a ledger entry, a lot, a coupon):
// a UUID version 7, which starts with the time it was made. Rows written one after the other
// then get neighbouring keys, so each insert lands in the newest pages of the indexes on
// these ids, which stay in memory; random (version 4) keys put every insert on a page of its
// own across indexes that, after a few years of a large chain, are bigger than the
// database's memory (docs/scaling.md). The ids say when a row was written, which the rows
// say anyway; nothing secret is kept in them.
func newID() string { return uuid.Must(uuid.NewV7()).String() }
