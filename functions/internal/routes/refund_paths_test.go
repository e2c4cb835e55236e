package routes_test

// The refund rules hold on every path a refund takes, not only refundOrder: a POS recording
// the refund on the order (order_refunded), and a receipt the POS recorded as refunded
// before it was ever credited (order_paid credits it and reverses at once).

import (
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

func TestAPOSRefundTakesBackTheLotItsOwnOrderOpened(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	today := w.now
	w.now = today.AddDate(0, 0, -360) // the old lot expires in 5 days
	w.earnHTTP(code, "OLD", 10_000)   // 100 points
	w.now = today
	w.earnHTTP(code, "NEW", 10_000) // 100 points, valid a year
	w.deliverAll("order_paid", "order_refunded")

	lt.Exec(t, w.db, `UPDATE orders SET status = 'refunded', refunded_amount = amount WHERE receipt_no = 'NEW'`)
	w.deliverAll("order_refunded")
	if b := lt.Balance(t, w.db, id); b != 100 {
		t.Fatalf("balance %d after the POS refund, want 100", b)
	}
	if left, _ := w.openLot("NEW"); left != 0 {
		t.Errorf("the refunded order's own lot still holds %d", left)
	}
	if left, expires := w.openLot("OLD"); left != 100 || !expires.Equal(today.AddDate(0, 0, 5)) {
		t.Errorf("the old lot holds %d expiring %v; want all 100 expiring %v", left, expires, today.AddDate(0, 0, 5))
	}
}

func TestAReceiptRefundedBeforeItWasCreditedReversesFromItsOwnLot(t *testing.T) {
	w := newTriggerWorld(t)
	id, code := w.member()
	today := w.now
	w.now = today.AddDate(0, 0, -360)
	w.earnHTTP(code, "OLD", 10_000) // 100 points, expiring in 5 days
	w.now = today
	w.deliverAll("order_paid")

	// The POS writes a paid receipt already half refunded; order_paid credits 100 and takes
	// 50 back, from the lot it has just opened.
	lt.Exec(t, w.db, `INSERT INTO orders (store_id, receipt_no, member_id, amount, refunded_amount) VALUES ($1, 'POS-1', $2, 10000, 5000)`, w.store, id)
	w.deliverAll("order_paid", "order_refunded")
	if b := lt.Balance(t, w.db, id); b != 150 {
		t.Fatalf("balance %d, want 150 (100 old, 100 earned, 50 reversed)", b)
	}
	if left, _ := w.openLot("POS-1"); left != 50 {
		t.Errorf("the order's own lot holds %d, want 50 (its reversal taken from it)", left)
	}
	if left, _ := w.openLot("OLD"); left != 100 {
		t.Errorf("the old lot holds %d, want all 100", left)
	}
}

// A POS refund of an order whose member has since deleted their account records the refund
// on the order (the POS did it) and reverses nothing: there is nobody to take points from,
// and a debt on an anonymised member would never be paid or written off.
func TestAPOSRefundAfterTheAccountWasDeletedReversesNoPoints(t *testing.T) {
	w := newCognitoWorld(t)
	hasuratest.CaptureEvents(t, w.db, "order_refunded", "orders", hasuratest.UpdateOf("refunded_amount", "status"))
	id, code := w.signUp(t, "aiko")
	w.earn(t, staff(w.crew), w.store, "R-1", 10_000, code) // 100
	hasuratest.DecodeOutput[loyalty.DeleteMyAccountOutput](t, hasuratest.Do(t, w.h, deleteMyAccount(t, member(id))))
	ledger := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1`, id)

	lt.Exec(t, w.db, `UPDATE orders SET status = 'refunded', refunded_amount = amount WHERE receipt_no = 'R-1'`)
	events := hasuratest.TakeEvents(t, w.db, "order_refunded")
	if len(events) != 1 {
		t.Fatalf("%d order_refunded events, want 1", len(events))
	}
	if rec := hasuratest.Do(t, w.h, events[0].Request(t)); rec.Code != 200 {
		t.Fatalf("order_refunded answered %d: %s", rec.Code, rec.Body)
	}
	if b := lt.Balance(t, w.db, id); b != 0 {
		t.Errorf("the deleted member's balance is %d, want 0", b)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM point_transactions WHERE member_id = $1`, id); n != ledger {
		t.Errorf("the deleted member's ledger went from %d entries to %d", ledger, n)
	}
}
