// Package csvimport upserts stores (by code) and rewards (by id) from CSV files: the header
// names the columns, every row is validated before anything is written (a row whose key the
// database does not hold is new and needs every required column), and all rows go in one
// transaction, which a dry run rolls back after reading what changed.
package csvimport

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// kind is how a cell is read, and the PostgreSQL type it is cast to.
type kind int

const (
	text kind = iota
	integer
	boolean
	uuidKind
	timestamp
)

func (k kind) pgType() string {
	return [...]string{"text", "bigint", "boolean", "uuid", "timestamptz"}[k]
}

// column is a column a file may set.
type column struct {
	name     string
	kind     kind
	nullable bool   // an empty cell is NULL; otherwise empty is an error
	min      *int64 // for integers
	check    func(string) error
}

// Table is what an import writes: the table, its key, and the columns a file may name.
type Table struct {
	Name          string
	Key           string   // the column rows are matched by
	KeyMayBeEmpty bool     // an empty key is a new row (rewards without id)
	Required      []string // columns a new row must have
	columns       []column
}

func ptr(v int64) *int64 { return &v }

func checkTimezone(s string) error {
	if _, err := time.LoadLocation(s); err != nil || s == "" || s == "Local" {
		return fmt.Errorf("%q is not an IANA time zone", s)
	}
	return nil
}

// Stores are matched by code; id is optional (a new store gets one).
var Stores = Table{Name: "stores", Key: "code", Required: []string{"code", "name"}, columns: []column{
	{name: "id", kind: uuidKind},
	{name: "code", kind: text, check: nonBlank},
	{name: "name", kind: text, check: nonBlank},
	{name: "timezone", kind: text, check: checkTimezone},
	{name: "active", kind: boolean},
}}

// Rewards are matched by id; a row without id is a new reward.
var Rewards = Table{Name: "rewards", Key: "id", KeyMayBeEmpty: true, Required: []string{"name", "points_cost"}, columns: []column{
	{name: "id", kind: uuidKind},
	{name: "name", kind: text, check: nonBlank},
	{name: "description", kind: text, nullable: true},
	{name: "image_url", kind: text, nullable: true},
	{name: "points_cost", kind: integer, min: ptr(1)},
	{name: "stock", kind: integer, nullable: true, min: ptr(0)},
	{name: "per_member_limit", kind: integer, nullable: true, min: ptr(1)},
	{name: "min_tier_rank", kind: integer, min: ptr(0)},
	{name: "coupon_valid_days", kind: integer, min: ptr(1)},
	{name: "active_from", kind: timestamp, nullable: true},
	{name: "active_to", kind: timestamp, nullable: true},
	{name: "active", kind: boolean},
	{name: "store_id", kind: uuidKind, nullable: true},
}}

func nonBlank(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("must not be blank")
	}
	return nil
}

func (t Table) column(name string) (column, bool) {
	for _, c := range t.columns {
		if c.name == name {
			return c, true
		}
	}
	return column{}, false
}

// parse checks a cell and returns it as PostgreSQL reads it (nil for NULL).
func (c column) parse(cell string) (*string, error) {
	cell = strings.TrimSpace(cell)
	if cell == "" {
		if c.nullable {
			return nil, nil
		}
		return nil, fmt.Errorf("is required")
	}
	switch c.kind {
	case integer:
		n, err := strconv.ParseInt(cell, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", cell)
		}
		if c.min != nil && n < *c.min {
			return nil, fmt.Errorf("%d is below %d", n, *c.min)
		}
	case boolean:
		b, err := strconv.ParseBool(strings.ToLower(cell))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", cell)
		}
		cell = strconv.FormatBool(b)
	case uuidKind:
		u, err := uuid.Parse(cell)
		if err != nil {
			return nil, fmt.Errorf("%q is not a uuid", cell)
		}
		cell = u.String()
	case timestamp:
		ts, err := time.Parse(time.RFC3339, cell)
		if err != nil {
			return nil, fmt.Errorf("%q is not a timestamp like 2026-07-01T00:00:00+09:00", cell)
		}
		cell = ts.Format(time.RFC3339Nano)
	}
	if c.check != nil {
		if err := c.check(cell); err != nil {
			return nil, err
		}
	}
	return &cell, nil
}
