package loyalty

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/database"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/turns"
)

// Service runs the programme's operations on the database.
type Service struct {
	db  *pgxpool.Pool
	now func() time.Time
	qr  QRTokens
	// observer is told what was committed (business counters).
	observer Observer
	// accounts is the user directory members sign in with; nil: deleteMyAccount is off.
	accounts AccountDirectory
	// redeemers admits this process's redemptions for one member three at a time, in the
	// order they came: one holding the member's row lock, the next waiting for it in
	// PostgreSQL (so the lock passes on at the COMMIT, not a round trip to Go later), one
	// reading ahead. The row lock lets one through at a time anyway. With all 64 of a hot
	// member's callers in at once, they read what the lock would make stale and took the two
	// cores from the one holding it; and PostgreSQL's queue for a row lock lets a late comer
	// overtake callers who have waited long (p99 of 120-150 ms against 52-57 ms in turns, at
	// the same rate), which with at most two waiting it can do by two places at most. The row
	// lock still guards the data, across pods too (docs/benchmarks.md).
	redeemers turns.Queues
}

// QRTokens issues the short-lived token a member card shows as a QR code, and reads the
// member id back out of it at the counter.
type QRTokens interface {
	IssueMemberQR(memberID string, now, expires time.Time) (string, error)
	// VerifyMemberQR returns the member and the token id a token names; an expired token is
	// *Error qr_expired, any other bad token qr_invalid, and so is one that would live longer
	// than maxLifetime (qr_token_ttl_seconds).
	VerifyMemberQR(token string, now time.Time, maxLifetime time.Duration) (MemberQR, error)
}

// MemberQR is what a verified member QR token says: whose card it is, and its own id, which
// earnPoints records with the receipt it credited so the token serves one receipt only.
type MemberQR struct {
	MemberID string
	TokenID  string
}

// Option changes a Service.
type Option func(*Service)

// WithClock makes the service read the time from now (tests move time with it).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithQRTokens enables member cards with QR codes, and earning by them.
func WithQRTokens(q QRTokens) Option { return func(s *Service) { s.qr = q } }

// New returns a Service on db.
func New(db *pgxpool.Pool, opts ...Option) *Service {
	s := &Service{db: db, now: time.Now, observer: noObserver{}, redeemers: turns.Queues{Width: 3}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Service) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return database.InTx(ctx, s.db, fn)
}

// clock returns the service time truncated to microseconds, as Postgres stores it, so that
// what a handler answers equals what a later read returns.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func loadSettings(ctx context.Context, tx pgx.Tx) (Settings, error) {
	var st Settings
	b := &pgx.Batch{}
	queueSettings(b, &st)
	return st, tx.SendBatch(ctx, b).Close()
}

// queueSettings queues the read of the programme's settings into st.
func queueSettings(b *pgx.Batch, st *Settings) {
	b.Queue(`
		SELECT earn_spend_unit, earn_points_per_unit, points_validity_days, welcome_bonus_points,
		       birthday_bonus_points, max_order_amount, qr_token_ttl_seconds, timezone,
		       referral_bonus_points, referee_bonus_points, referral_min_amount, referral_yearly_limit, expiry_reminder_days,
		       member_lookup_miss_limit, member_lookup_miss_window_seconds
		FROM program_settings WHERE id = 1`).QueryRow(func(row pgx.Row) error {
		var windowSeconds int
		err := row.Scan(
			&st.EarnSpendUnit, &st.EarnPointsPerUnit, &st.PointsValidityDays, &st.WelcomeBonusPoints,
			&st.BirthdayBonusPoints, &st.MaxOrderAmount, &st.QRTokenTTLSeconds, &st.Timezone,
			&st.ReferralBonusPoints, &st.RefereeBonusPoints, &st.ReferralMinAmount, &st.ReferralYearlyLimit, &st.ExpiryReminderDays,
			&st.MemberLookupMissLimit, &windowSeconds)
		st.MemberLookupMissWindow = time.Duration(windowSeconds) * time.Second
		if err == pgx.ErrNoRows {
			return fail(CodeNotConfigured, "program_settings has no row: apply the seeds or insert it")
		}
		return err
	})
}

const tiersSQL = `SELECT id, rank, min_points, earn_multiplier_pct FROM tiers ORDER BY rank`

func loadTiers(ctx context.Context, tx pgx.Tx) ([]Tier, error) {
	rows, err := tx.Query(ctx, tiersSQL)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanTier)
}

func scanTier(r pgx.CollectableRow) (Tier, error) {
	var t Tier
	err := r.Scan(&t.ID, &t.Rank, &t.MinPoints, &t.MultiplierPct)
	return t, err
}
