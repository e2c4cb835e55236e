package loyalty

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Role is the caller's x-hasura-role.
type Role string

const (
	RoleAnonymous Role = "anonymous"
	RoleMember    Role = "member"
	RoleStaff     Role = "staff"
	RoleAdmin     Role = "admin"
)

// Caller is who is asking, as Hasura's session says. The member an operation acts for is
// always Caller.UserID, never a field of the input.
type Caller struct {
	Role   Role
	UserID string
}

// memberID is the caller's own member id, for operations only a member may call.
func (c Caller) memberID() (string, error) {
	if c.Role != RoleMember {
		return "", fail(CodeForbidden, "only a signed-in member may do this")
	}
	id, err := uuid.Parse(c.UserID)
	if err != nil {
		return "", fail(CodeForbidden, "the session has no valid x-hasura-user-id")
	}
	// Canonical form: the member's idempotency keys are built from it.
	return id.String(), nil
}

// actor is the user a ledger entry or coupon use is recorded against: the caller's id when it
// is a uuid (a Cognito sub), nil for the admin secret, which names nobody.
func (c Caller) actor() *string {
	id, err := uuid.Parse(c.UserID)
	if err != nil {
		return nil
	}
	s := id.String()
	return &s
}

// StaffRole is what a staff member may do at a store.
type StaffRole string

const (
	Crew    StaffRole = "crew"
	Manager StaffRole = "manager"
)

// authorizeStore checks that the caller may act for storeID: admin anywhere, staff only where
// they hold an active staff row (of at least role need). It also checks the store exists.
func authorizeStore(ctx context.Context, tx pgx.Tx, c Caller, storeID string, need StaffRole) error {
	var a storeAccess
	err := a.scan(tx.QueryRow(ctx, storeAccessSQL, storeID, c.actor()))
	if err != nil {
		return err
	}
	return a.check(c, storeID, need)
}

// storeAccess is what deciding whether a caller may act for a store reads: the store and the
// caller's active staff row there. storeAccessSQL reads it with $1 the store, $2 the caller's
// user id (nil for the admin secret).
type storeAccess struct {
	Found, Active bool
	Role          *StaffRole // nil: no active staff row
}

var storeAccessSQL = storeAccessSQLWith("")

// storeAccessSQLWith is storeAccessSQL with more columns after its own, read by scanWith: for
// a caller's facts that can come in the same statement.
func storeAccessSQLWith(columns string) string {
	return `
	SELECT s.active, st.role` + columns + ` FROM stores s
	LEFT JOIN staff st ON st.store_id = s.id AND st.user_id = $2 AND st.active
	WHERE s.id = $1`
}

func (a *storeAccess) scan(row pgx.Row) error { return a.scanWith()(row) }

// scanWith scans a row of storeAccessSQLWith into a and its more columns into more (left as
// they are when there is no such store).
func (a *storeAccess) scanWith(more ...any) func(pgx.Row) error {
	return func(row pgx.Row) error {
		err := row.Scan(append([]any{&a.Active, &a.Role}, more...)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		a.Found = err == nil
		return err
	}
}

func (a storeAccess) check(c Caller, storeID string, need StaffRole) error {
	if !a.Found {
		if c.Role == RoleAdmin {
			return fail(CodeNotFound, "no store %s", storeID)
		}
		return fail(CodeForbidden, "not staff of store %s", storeID)
	}
	switch c.Role {
	case RoleAdmin:
	case RoleStaff:
		if _, err := uuid.Parse(c.UserID); err != nil {
			return fail(CodeForbidden, "the session has no valid x-hasura-user-id")
		}
		if a.Role == nil {
			return fail(CodeForbidden, "not active staff of store %s", storeID)
		}
		if need == Manager && *a.Role != Manager {
			return fail(CodeForbidden, "only a manager of the store may do this")
		}
	default:
		return fail(CodeForbidden, "role %q may not do this", c.Role)
	}
	if !a.Active {
		return fail(CodeForbidden, "store %s is closed", storeID)
	}
	return nil
}

// requireRole refuses callers whose role is not one of roles.
func requireRole(c Caller, roles ...Role) error {
	for _, r := range roles {
		if c.Role == r {
			return nil
		}
	}
	return fail(CodeForbidden, "role %q may not do this", c.Role)
}
