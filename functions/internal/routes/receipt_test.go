package routes_test

import (
	"testing"

	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// What counts as the white space around a receipt number is the same for the counter (Go)
// and a POS writing straight to the database, whatever the database's locale: the ASCII
// white space, no more. A full-width space (U+3000, what a Japanese keyboard types) or a
// no-break space is part of the number on both paths, so the POS's order and the counter's
// earn are one receipt.
func TestAReceiptWithAUnicodeSpaceIsOneReceiptOnBothPaths(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	for _, receipt := range []string{"POS-7\u3000", "\u00a0POS-8"} {
		lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount) VALUES ($1, $2, $3, 3000)`, w.store, receipt, id)
		w.deliverAll("order_paid")
		if out := w.earnHTTP(code, receipt, 3000); !out.Duplicate || out.PointsEarned != 30 {
			t.Fatalf("earnPoints %q = %+v; want the duplicate of the POS order's 30", receipt, out)
		}
		if n := lt.Count(t, w.db, `SELECT count(*) FROM orders WHERE receipt_no = $1`, receipt); n != 1 {
			t.Fatalf("%d orders %q, want the POS's one, as written", n, receipt)
		}
	}
	if b := lt.Balance(t, w.db, id); b != 60 {
		t.Fatalf("balance %d, want 60", b)
	}
}
