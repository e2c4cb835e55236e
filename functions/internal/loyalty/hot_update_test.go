package loyalty_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// An earn's update of its member's balance stays on the row's page (a HOT update, which
// writes no index entry), even on pages filled by a bulk load: members keeps room on every
// page (migration 1764206600000_members_fillfactor).
func TestEarnUpdatesTheMemberOnItsOwnPage(t *testing.T) {
	w := newWorld(t)
	var codes []string
	for len(codes) < 300 {
		codes = append(codes, loyalty.NewMemberCode())
	}
	lt.Exec(t, w.db, `INSERT INTO members (id, member_code, display_name)
		SELECT gen_random_uuid(), code, 'Bulk member ' || n FROM unnest($1::text[]) WITH ORDINALITY AS c(code, n) ON CONFLICT DO NOTHING`, codes)
	block := func(code string) (b int64) {
		t.Helper()
		return lt.Count(t, w.db, `SELECT (ctid::text::point)[0]::bigint FROM members WHERE member_code = $1`, code)
	}
	first := lt.Count(t, w.db, `SELECT min((ctid::text::point)[0])::bigint FROM members WHERE display_name LIKE 'Bulk member %'`)
	if n := lt.Count(t, w.db, `SELECT count(*) FROM members WHERE (ctid::text::point)[0] = $1`, first); n < 20 {
		t.Fatalf("the first page of the bulk load holds %d members: not a full page", n)
	}
	// Five members of that page earn, one after the other.
	rows, err := w.db.Query(context.Background(), `SELECT member_code FROM members
		WHERE display_name LIKE 'Bulk member %' AND (ctid::text::point)[0] = $1 ORDER BY ctid LIMIT 5`, first)
	if err != nil {
		t.Fatal(err)
	}
	onFirst, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(onFirst) != 5 {
		t.Fatalf("%d members on the first page", len(onFirst))
	}
	for i, code := range onFirst {
		if b := block(code); b != first {
			t.Fatalf("member %s is on page %d, not the bulk load's first page %d", code, b, first)
		}
		must[loyalty.EarnPointsOutput](t)(w.earn(code, fmt.Sprintf("HOT-%d", i), 1000))
		if b := block(code); b != first {
			t.Fatalf("earn %d moved member %s from page %d to page %d: the page had no room for the update", i, code, first, b)
		}
	}
}
