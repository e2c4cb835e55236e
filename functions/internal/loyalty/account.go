package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// AccountDirectory is the user directory members sign in with (Cognito), as far as the
// programme needs it: deleting a member's user when they delete their account.
type AccountDirectory interface {
	// DeleteUser deletes the user whose id (Cognito sub) is memberID. A user that is gone
	// already counts as deleted (nil), so a retry is safe. Errors a retry may cure implement
	// Temporary() bool returning true.
	DeleteUser(ctx context.Context, memberID string) error
}

// WithAccountDirectory enables deleteMyAccount, which deletes the member's user from d.
func WithAccountDirectory(d AccountDirectory) Option { return func(s *Service) { s.accounts = d } }

// What an account deletion leaves behind.
const (
	DeletedDisplayName   = "Deleted member"
	AccountDeletedReason = "account deleted"
)

// DeleteMyAccount deletes the caller's account: it cancels their live coupons (giving limited
// stock back), brings their balance to zero with one ledger entry (forfeiting points or writing
// off a debt), deactivates their staff rows, anonymises their member row, and deletes their
// Cognito user.
// The ledger, orders and coupons stay, for the books.
//
// The order of the effects is what makes a retry after any failure converge with nothing
// lost:
//
//  1. One transaction does everything in the database. It fails as a whole, or commits as a
//     whole and sets deleted_at.
//  2. Then the Cognito user is deleted. If that fails, the database part stays committed and
//     the call answers a 5xx (transient faults: 503), Hasura's "internal error" to the app. The
//     member can still sign in (and a token they hold stays valid until it expires) but can do
//     nothing any more, every operation refusing a deleted member; the app's retry of
//     deleteMyAccount finds deleted_at set, changes nothing in the database and deletes the
//     Cognito user only.
//
// The other order would be worse: with the Cognito user deleted first and the database failing
// next, the member could never sign in to retry, and their personal data would stay.
//
// A repeated call answers deleted: true and changes nothing in the database (it still makes
// sure the Cognito user is gone, which is idempotent too).
func (s *Service) DeleteMyAccount(ctx context.Context, c Caller, _ struct{}) (DeleteMyAccountOutput, error) {
	id, err := c.memberID()
	if err != nil {
		return DeleteMyAccountOutput{}, err
	}
	// Checked before anything changes: a deletion that could not reach Cognito must not
	// anonymise the member and leave their sign-in behind.
	if s.accounts == nil {
		return DeleteMyAccountOutput{}, fail(CodeNotConfigured, "account deletion is not enabled here: COGNITO_USER_POOL_ID is not set")
	}
	now := s.clock()
	if err := s.inTx(ctx, func(tx pgx.Tx) error { return forgetMember(ctx, tx, id, now) }); err != nil {
		return DeleteMyAccountOutput{}, err
	}
	if err := s.accounts.DeleteUser(ctx, id); err != nil {
		// Not a *Error: the database part is done, and a retry finishes the rest.
		return DeleteMyAccountOutput{}, fmt.Errorf("member %s is deleted in the database but their Cognito user is not yet (a retry deletes it): %w", id, err)
	}
	return DeleteMyAccountOutput{Deleted: true}, nil
}

// forgetMember does the database part of an account deletion, once: on a member deleted
// already it changes nothing. A signed-in user with no member row has only staff rows to
// deactivate; their Cognito user is still deleted (app stores require that every account can
// be deleted, whether or not it ever joined the programme).
func forgetMember(ctx context.Context, tx pgx.Tx, id string, now time.Time) error {
	// The user's staff rows go with the account: a deleted user must not keep store rights
	// should the same sub ever sign in again.
	if _, err := tx.Exec(ctx, `UPDATE staff SET active = false WHERE user_id = $1 AND active`, id); err != nil {
		return err
	}
	m, ok, err := lockMember(ctx, tx, id)
	if err != nil || !ok || m.Deleted {
		return err
	}
	// Live coupons (issued and not expired) are cancelled, and no longer honoured at the
	// counter; a reward with limited stock gets its unit back, since nobody will use it. An
	// issued coupon already past its expiry is left for expire_coupons to mark expired, which
	// is what it is (its stock stays used, as for any expired coupon).
	if _, err := tx.Exec(ctx, `
		WITH cancelled AS (
			UPDATE coupons SET status = 'cancelled'
			WHERE member_id = $1 AND status = 'issued' AND expires_at > $2
			RETURNING reward_id
		)
		UPDATE rewards r SET stock = r.stock + c.n
		FROM (SELECT reward_id, count(*)::int AS n FROM cancelled GROUP BY reward_id) c
		WHERE r.id = c.reward_id AND r.stock IS NOT NULL`, id, now); err != nil {
		return err
	}
	// The balance goes to zero with one adjust entry: a positive balance is forfeited (it
	// empties the lots with it), and a negative one (a debt a refund left) is written off, so
	// no debt stays on a member nobody can reach. The key is one per member: this runs once,
	// deleted_at being set in the same transaction.
	if m.Balance != 0 {
		reason := AccountDeletedReason
		_, err := post(ctx, tx, &m, entry{Kind: KindAdjust, Points: -m.Balance, Reason: &reason, Key: "delete:" + id, At: now, By: &id}, 1)
		if errors.Is(err, errDuplicate) {
			return fmt.Errorf("ledger entry delete:%s exists while member %s is not deleted", id, id)
		}
		if err != nil {
			return err
		}
	}
	// The personal data goes. What stays: the id (the ledger, orders and coupons refer to it;
	// it names no Cognito user any more), the tier, the balance (0), created_at, and
	// member_code. member_code stays because it is how the card, the counter and support name
	// a member, so the books stay joinable on it, and because the column is NOT NULL UNIQUE:
	// kept there, the code is never drawn again for a new member, so the old card cannot
	// credit a stranger (earnPoints refuses it as the code of no active member). With the name
	// and contact data gone it is a random number that leads to no person.
	if _, err = tx.Exec(ctx, `
		UPDATE members SET display_name = $2, email = NULL, phone = NULL, birthday = NULL, deleted_at = $3
		WHERE id = $1`, id, DeletedDisplayName, now); err != nil {
		return err
	}
	return scrubFailures(ctx, tx, id)
}

// personalFields are the member columns an account deletion erases.
var personalFields = []string{"display_name", "email", "phone", "birthday"}

// scrubFailures erases the member's personal fields from stored trigger_failures payloads
// (Hasura events carry the whole members row), so a deletion leaves none of it behind. A
// payload naming the member that is not JSON (an oversized body kept as text) is replaced by
// a note. trigger_failures holds only failed deliveries, so the scan stays small.
func scrubFailures(ctx context.Context, tx pgx.Tx, memberID string) error {
	rows, err := tx.Query(ctx, `SELECT id, payload FROM trigger_failures WHERE strpos(payload, $1) > 0`, memberID)
	if err != nil {
		return err
	}
	type failure struct {
		id      int64
		payload string
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (failure, error) {
		var f failure
		err := r.Scan(&f.id, &f.payload)
		return f, err
	})
	if err != nil {
		return err
	}
	for _, f := range found {
		scrubbed, changed := scrubPayload(f.payload, memberID)
		if !changed {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE trigger_failures SET payload = $2 WHERE id = $1`, f.id, scrubbed); err != nil {
			return err
		}
	}
	return nil
}

// scrubPayload nulls the personal fields of the member's row in a Hasura event payload
// (event.data.old and .new); changed is false when the payload holds none of them.
func scrubPayload(payload, memberID string) (string, bool) {
	var body map[string]any
	dec := json.NewDecoder(strings.NewReader(payload))
	dec.UseNumber() // numbers stay as written, not rounded through float64
	if err := dec.Decode(&body); err != nil {
		return `{"scrubbed": "this payload named a deleted member and was not JSON; it was erased"}`, true
	}
	event, _ := body["event"].(map[string]any)
	data, _ := event["data"].(map[string]any)
	changed := false
	for _, side := range []string{"old", "new"} {
		row, _ := data[side].(map[string]any)
		if row == nil || row["id"] != memberID {
			continue
		}
		for _, f := range personalFields {
			if v, ok := row[f]; ok && v != nil {
				row[f] = nil
				changed = true
			}
		}
	}
	if !changed {
		return payload, false
	}
	out, err := json.Marshal(body)
	if err != nil {
		return payload, false
	}
	return string(out), true
}
