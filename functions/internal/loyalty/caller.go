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
	var active bool
	err := tx.QueryRow(ctx, `SELECT active FROM stores WHERE id = $1`, storeID).Scan(&active)
	if errors.Is(err, pgx.ErrNoRows) {
		if c.Role == RoleAdmin {
			return fail(CodeNotFound, "no store %s", storeID)
		}
		return fail(CodeForbidden, "not staff of store %s", storeID)
	}
	if err != nil {
		return err
	}
	switch c.Role {
	case RoleAdmin:
	case RoleStaff:
		if _, err := uuid.Parse(c.UserID); err != nil {
			return fail(CodeForbidden, "the session has no valid x-hasura-user-id")
		}
		var role StaffRole
		err := tx.QueryRow(ctx, `SELECT role FROM staff WHERE user_id = $1 AND store_id = $2 AND active`, c.UserID, storeID).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) {
			return fail(CodeForbidden, "not active staff of store %s", storeID)
		}
		if err != nil {
			return err
		}
		if need == Manager && role != Manager {
			return fail(CodeForbidden, "only a manager of the store may do this")
		}
	default:
		return fail(CodeForbidden, "role %q may not do this", c.Role)
	}
	if !active {
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
