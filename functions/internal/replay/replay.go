// Package replay lists failed trigger deliveries (trigger_failures) and delivers one again
// to its handler as Hasura would, for an operator.
package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
)

// Failure is a row of trigger_failures.
type Failure struct {
	ID           int64      `json:"id"`
	Trigger      string     `json:"trigger"`
	DeliveryID   string     `json:"delivery_id"`
	Status       int        `json:"status"`
	Error        string     `json:"error"`
	Attempts     int        `json:"attempts"`
	FirstFailed  time.Time  `json:"first_failed_at"`
	LastFailedAt time.Time  `json:"last_failed_at"`
	ResolvedAt   *time.Time `json:"resolved_at"`
}

// List returns the failures, open ones only unless all, newest first.
func List(ctx context.Context, db *pgxpool.Pool, all bool, limit int) ([]Failure, error) {
	rows, err := db.Query(ctx, `
		SELECT id, trigger, delivery_id, status, error, attempts, first_failed_at, last_failed_at, resolved_at
		FROM trigger_failures WHERE $1 OR resolved_at IS NULL
		ORDER BY last_failed_at DESC, id DESC LIMIT $2`, all, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Failure, error) {
		var f Failure
		err := r.Scan(&f.ID, &f.Trigger, &f.DeliveryID, &f.Status, &f.Error, &f.Attempts, &f.FirstFailed, &f.LastFailedAt, &f.ResolvedAt)
		return f, err
	})
}

// Replayer posts stored deliveries to the functions.
type Replayer struct {
	DB      *pgxpool.Pool
	Client  *http.Client
	BaseURL string // FUNCTIONS_BASE_URL, as in the metadata's webhooks
	Secret  string // ACTION_SECRET
}

// Result is the handler's answer to a replay.
type Result struct {
	ID         int64  `json:"id"`
	Trigger    string `json:"trigger"`
	DeliveryID string `json:"delivery_id"`
	Status     int    `json:"status"`
	Body       string `json:"body"`
	Resolved   bool   `json:"resolved"`
}

// ErrNotFound: no failure has that id.
var ErrNotFound = errors.New("no such failure")

// Replay delivers failure id again; a 2xx marks it resolved (the handler does so too when it
// applies the delivery; a delivery it finds already applied leaves that to us).
func (r Replayer) Replay(ctx context.Context, id int64) (Result, error) {
	res := Result{ID: id}
	var payload string
	err := r.DB.QueryRow(ctx, `SELECT trigger, delivery_id, payload FROM trigger_failures WHERE id = $1`, id).
		Scan(&res.Trigger, &res.DeliveryID, &payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return res, fmt.Errorf("failure %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return res, err
	}
	if payload == "" {
		return res, fmt.Errorf("failure %d: no payload was stored (the body was too large to read): deliver it from Hasura's event log", id)
	}
	url := strings.TrimRight(r.BaseURL, "/") + "/" + res.Trigger
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(payload)))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hasura.SecretHeader, r.Secret)
	req.Header.Set("User-Agent", "loyaltyctl (failures replay)")
	resp, err := r.Client.Do(req)
	if err != nil {
		return res, fmt.Errorf("failure %d: post to %s: %w", id, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	res.Status, res.Body = resp.StatusCode, strings.TrimSpace(string(body))
	if resp.StatusCode/100 != 2 {
		return res, nil
	}
	if _, err := r.DB.Exec(ctx, `UPDATE trigger_failures SET resolved_at = now() WHERE id = $1 AND resolved_at IS NULL`, id); err != nil {
		return res, err
	}
	res.Resolved = true
	return res, nil
}
