package loyalty

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// message is a notification's content: English text for a plain client, and data (points,
// dates, ids) from which the app writes it in the member's language.
type message struct {
	Title, Body string
	Data        map[string]any
}

// notify puts a message for the member into the outbox, once per dedupeKey.
func notify(ctx context.Context, tx pgx.Tx, memberID, kind string, transactionID *string, dedupeKey string, at time.Time, msg message) error {
	b := &pgx.Batch{}
	if err := queueNotify(b, memberID, kind, transactionID, dedupeKey, at, msg); err != nil {
		return err
	}
	return tx.SendBatch(ctx, b).Close()
}

// queueNotify queues notify's insert on b, to be sent with other writes.
func queueNotify(b *pgx.Batch, memberID, kind string, transactionID *string, dedupeKey string, at time.Time, msg message) error {
	data := []byte(`{}`)
	if msg.Data != nil {
		var err error
		if data, err = json.Marshal(msg.Data); err != nil {
			return err
		}
	}
	b.Queue(`
		INSERT INTO notifications (member_id, kind, title, body, data, transaction_id, dedupe_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (dedupe_key) DO NOTHING`, memberID, kind, msg.Title, msg.Body, data, transactionID, dedupeKey, at)
	return nil
}

// transactionMessage is what the member is told about a ledger entry.
func transactionMessage(kind string, points int64) message {
	title, body := transactionText(kind, points)
	return message{Title: title, Body: body, Data: map[string]any{"points": points, "kind": kind}}
}

func transactionText(kind string, points int64) (title, body string) {
	n := points
	if n < 0 {
		n = -n
	}
	switch kind {
	case KindEarn:
		return "Points earned", fmt.Sprintf("You earned %d points. Thank you for your visit!", n)
	case KindBonus:
		return "Bonus points", fmt.Sprintf("%d bonus points were added to your card.", n)
	case KindRedeem:
		return "Reward redeemed", fmt.Sprintf("You spent %d points. Your coupon is in the app.", n)
	case KindExpire:
		return "Points expired", fmt.Sprintf("%d points reached their expiry date.", n)
	case KindRefund:
		return "Order refunded", fmt.Sprintf("%d points from a refunded order were taken back.", n)
	default:
		if points >= 0 {
			return "Points added", fmt.Sprintf("%d points were added to your card.", n)
		}
		return "Points corrected", fmt.Sprintf("%d points were taken off your card.", n)
	}
}
