package loyalty

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// BirthdayLookbackDays: a run also pays birthdays of the days before, so a day the job did
// not run (Hasura gave up, or it was down) is caught up. The ledger key holds the year, so a
// member is paid once a year however often the job runs.
const BirthdayLookbackDays = 2

// BirthdayBonus pays the birthday bonus to members whose birthday is the run's day (or one of
// the BirthdayLookbackDays before it) in the programme's time zone.
func (s *Service) BirthdayBonus(ctx context.Context, r CronRun) (Outcome, error) {
	var st Settings
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		st, err = loadSettings(ctx, tx)
		return err
	})
	if err != nil {
		return Outcome{}, err
	}
	loc, err := st.Location()
	if err != nil {
		return Outcome{}, err
	}
	if st.BirthdayBonusPoints == 0 {
		return s.once(ctx, r.Delivery, func(pgx.Tx) (Outcome, error) { return Outcome{Skipped: "birthday_bonus_points is 0"}, nil })
	}
	today := r.ScheduledTime.In(loc)
	var days []time.Time
	for i := BirthdayLookbackDays; i >= 0; i-- {
		days = append(days, today.AddDate(0, 0, -i))
	}
	now := s.clock()
	// The cursor's Step is the index of the day in days.
	return s.runBatches(ctx, r, func(tx pgx.Tx, cur *cronCursor, out *Outcome) (bool, error) {
		if cur.Step >= len(days) {
			return false, nil
		}
		day := days[cur.Step]
		ids, err := birthdayMembers(ctx, tx, day, st.Timezone, cur.after(), r.batchSize())
		if err != nil {
			return false, err
		}
		for _, id := range ids {
			m, ok, err := lockMember(ctx, tx, id)
			if err != nil {
				return false, err
			}
			if !ok || m.Deleted {
				continue
			}
			reason := fmt.Sprintf("birthday bonus %d", day.Year())
			_, err = post(ctx, tx, &m, entry{Kind: KindBonus, Points: st.BirthdayBonusPoints, Reason: &reason,
				Key: fmt.Sprintf("birthday:%s:%d", m.ID, day.Year()), At: now}, st.PointsValidityDays)
			if errors.Is(err, errDuplicate) {
				continue
			}
			if err != nil {
				return false, err
			}
			out.Members++
			out.Points += st.BirthdayBonusPoints
		}
		if len(ids) == r.batchSize() {
			cur.After = ids[len(ids)-1]
			return true, nil
		}
		cur.Step, cur.After = cur.Step+1, ""
		return cur.Step < len(days), nil
	})
}

// birthdayMembers lists members born on day's month and day who had registered by that day
// (in the programme's time zone tz, like every date rule), after the id after. Members born on
// 29 February celebrate on the 28th in other years.
func birthdayMembers(ctx context.Context, tx pgx.Tx, day time.Time, tz, after string, limit int) ([]string, error) {
	leapDay := day.Month() == time.February && day.Day() == 28 && !isLeap(day.Year())
	rows, err := tx.Query(ctx, `
		SELECT id FROM members
		WHERE birthday IS NOT NULL AND deleted_at IS NULL AND id > $4
		  AND extract(month FROM birthday) = $1
		  AND (extract(day FROM birthday) = $2 OR ($3 AND extract(day FROM birthday) = 29))
		  AND (created_at AT TIME ZONE $7)::date <= $5
		ORDER BY id LIMIT $6`, int(day.Month()), day.Day(), leapDay, after, day.Format(time.DateOnly), limit, tz)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }
