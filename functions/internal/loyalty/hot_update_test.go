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

// A redemption that takes part of a lot rewrites it on its own page as a heap-only tuple: a
// HOT update, which writes no entry in any of point_lots' four indexes, even on a page filled
// by other lots. No index reads remaining (the open-lot indexes select on is_open, which a
// partial take leaves true), and the table keeps room on every page (migration
// 1764207300000_point_lots_hot_takes). At a large size each of those index entries was a
// page read from disk per redemption.
func TestARedemptionTakesPartOfALotWithoutWritingItsIndexes(t *testing.T) {
	w := newWorld(t)
	lt.Exec(t, w.db, `CREATE EXTENSION IF NOT EXISTS pageinspect`)
	// 100 members earn once each, one after the other: their lots fill the first page.
	var ids []string
	for i := 0; i < 100; i++ {
		id, code := lt.Member(t, w.db)
		ids = append(ids, id)
		must[loyalty.EarnPointsOutput](t)(w.earn(code, fmt.Sprintf("LOT-%d", i), 100000))
	}
	version := func(id string) (page, item int64, heapOnly bool) {
		t.Helper()
		err := w.db.QueryRow(context.Background(), `
			SELECT l.page, l.item, (h.t_infomask2 & 32768) <> 0 -- HEAP_ONLY_TUPLE
			FROM (SELECT (ctid::text::point)[0]::bigint AS page, (ctid::text::point)[1]::int AS item
			      FROM point_lots WHERE member_id = $1) l
			CROSS JOIN LATERAL heap_page_items(get_raw_page('point_lots', l.page)) h
			WHERE h.lp = l.item`, id).Scan(&page, &item, &heapOnly)
		if err != nil {
			t.Fatal(err)
		}
		return page, item, heapOnly
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_lots WHERE (ctid::text::point)[0] = 0`); n < 50 {
		t.Fatalf("the first page holds %d lots: not a full page", n)
	}
	id := ids[len(ids)/3] // a lot in the middle of the first page
	page, _, heapOnly := version(id)
	if page != 0 || heapOnly {
		t.Fatalf("the lot of member %s is on page %d (heap-only %v) before any take; want page 0, from the earn's insert", id, page, heapOnly)
	}
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 10})
	for i := 0; i < 5; i++ {
		if _, err := w.svc.RedeemReward(context.Background(), member(id), loyalty.RedeemRewardInput{RewardID: reward, IdempotencyKey: fmt.Sprintf("hot-%d", i)}); err != nil {
			t.Fatal(err)
		}
		if p, item, heapOnly := version(id); p != 0 || !heapOnly {
			t.Fatalf("take %d: the lot is now at (%d,%d), heap-only %v; want a heap-only version on page 0", i, p, item, heapOnly)
		}
	}
	if n := lt.Count(t, w.db, `SELECT remaining FROM point_lots WHERE member_id = $1`, id); n != 1000-5*10 {
		t.Fatalf("the lot holds %d points after five takes of 10 from 1000", n)
	}
}
