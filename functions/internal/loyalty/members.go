package loyalty

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// RegisterMember creates the caller's member row, or returns it with Created false when the
// caller is already registered (a retry, or a second device). A registered member whose
// birthday is still empty may give it this way, once: members cannot edit it through Hasura,
// since it drives the birthday bonus.
func (s *Service) RegisterMember(ctx context.Context, c Caller, in RegisterMemberInput) (RegisterMemberOutput, error) {
	id, err := c.memberID()
	if err != nil {
		return RegisterMemberOutput{}, err
	}
	now := s.clock()
	var v checks
	v.text("displayName", in.DisplayName, 100)
	v.optionalText("email", in.Email, 254)
	v.optionalText("phone", in.Phone, 32)
	v.optionalText("referralCode", in.ReferralCode, 32)
	v.printable("displayName", &in.DisplayName)
	v.printable("email", in.Email)
	v.printable("phone", in.Phone)
	v.printable("referralCode", in.ReferralCode)
	if in.Email != nil && *in.Email != "" {
		// Stored as parsed: the bare address, never a display name or comments around it.
		addr, perr := mail.ParseAddress(*in.Email)
		// A quoted local part may hold white space ("a b"@x); no member's mailbox needs it,
		// and the database holds every writer to an address without it.
		if perr == nil && strings.ContainsFunc(addr.Address, unicode.IsSpace) {
			perr = errors.New("white space in the address")
		}
		v.that(perr == nil, "email is not an e-mail address")
		if perr == nil {
			in.Email = &addr.Address
		}
	}
	if in.Birthday != nil {
		v.that(in.Birthday.Year() >= 1900, "birthday must be a past date")
	}
	if err := v.result(); err != nil {
		return RegisterMemberOutput{}, err
	}
	var out RegisterMemberOutput
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if in.Birthday != nil {
			// "Past" is by the calendar of the programme's time zone, like every date rule.
			st, err := loadSettings(ctx, tx)
			if err != nil {
				return err
			}
			today, err := st.Today(now)
			if err != nil {
				return err
			}
			if in.Birthday.After(today) {
				return invalid("birthday must be a past date")
			}
		}
		// A repeated call for a registered member answers what stands and ignores the code.
		found, err := registered(ctx, tx, id, &out)
		switch {
		case err != nil:
			return err
		case found && in.Birthday != nil:
			_, err := tx.Exec(ctx, `UPDATE members SET birthday = $2 WHERE id = $1 AND birthday IS NULL`, id, in.Birthday.Time)
			return err
		case found:
			return nil
		}
		var referredBy *string
		if in.ReferralCode != nil && strings.TrimSpace(*in.ReferralCode) != "" {
			if referredBy, err = referrer(ctx, tx, *in.ReferralCode, id); err != nil {
				return err
			}
		}
		for attempt := 0; attempt < 5; attempt++ {
			var birthday any
			if in.Birthday != nil {
				birthday = in.Birthday.Time
			}
			err := tx.QueryRow(ctx, `
				INSERT INTO members (id, member_code, display_name, email, phone, birthday, created_at, referred_by)
				VALUES ($1, $2, $3, nullif($4, ''), nullif($5, ''), $6, $7, $8)
				ON CONFLICT DO NOTHING
				RETURNING id, member_code, tier_id, points_balance`,
				id, NewMemberCode(), strings.TrimSpace(in.DisplayName), in.Email, in.Phone, birthday, now, referredBy,
			).Scan(&out.MemberID, &out.MemberCode, &out.TierID, &out.PointsBalance)
			if err == nil {
				out.Created = true
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			// A conflict: either the member was registered meanwhile (a concurrent call), or the
			// drawn member or referral code is taken.
			if found, err := registered(ctx, tx, id, &out); found || err != nil {
				return err
			}
		}
		return errors.New("could not draw a free member code in 5 attempts")
	})
	return out, err
}

// registered reads the caller's member row into out; found is false when there is none, and
// a deleted account is refused (it may not register again under the same sign-in).
func registered(ctx context.Context, tx pgx.Tx, id string, out *RegisterMemberOutput) (found bool, err error) {
	var deleted bool
	err = tx.QueryRow(ctx, `SELECT id, member_code, tier_id, points_balance, deleted_at IS NOT NULL FROM members WHERE id = $1`, id).
		Scan(&out.MemberID, &out.MemberCode, &out.TierID, &out.PointsBalance, &deleted)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	case deleted:
		return true, fail(CodeForbidden, "this account was deleted")
	}
	return true, nil
}

// activeMember locks the caller's member row, refusing callers who are not registered.
func activeMember(ctx context.Context, tx pgx.Tx, id string) (member, error) {
	m, ok, err := lockMember(ctx, tx, id)
	if err != nil {
		return m, err
	}
	if !ok || m.Deleted {
		return m, fail(CodeNotRegistered, "register as a member first")
	}
	return m, nil
}
