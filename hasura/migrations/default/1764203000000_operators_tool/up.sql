-- What loyaltyctl, the operators' tool, needs: a record of every hotfix run against the
-- database, and the points liability (what the programme owes its members) as views that
-- read indexes, for the report and for admin in Hasura.

-- One row per `loyaltyctl hotfix apply` that got as far as running its file (a dry run writes
-- nothing). An applied row is written in the hotfix's own transaction, so a file is recorded
-- as applied exactly when its changes committed; a failed run is recorded after its rollback.
CREATE TABLE public.hotfix_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name    text NOT NULL CHECK (file_name <> ''),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    reason       text NOT NULL CHECK (btrim(reason) <> ''),
    os_user      text NOT NULL,
    db_user      text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('applied', 'failed')),
    -- The command tag of each statement, in order: [{"statement": 1, "tag": "UPDATE 3", "rows": 3}].
    statements   jsonb NOT NULL DEFAULT '[]',
    error        text,
    CHECK ((outcome = 'failed') = (error IS NOT NULL)),
    CHECK (finished_at >= started_at)
);
CREATE INDEX hotfix_runs_sha256_idx ON public.hotfix_runs (sha256) WHERE outcome = 'applied';
CREATE INDEX hotfix_runs_file_name_idx ON public.hotfix_runs (file_name) WHERE outcome = 'applied';

-- The liability sums read only these two indexes (index-only scans once vacuumed), so the
-- report stays fast on millions of lots and entries.
CREATE INDEX point_lots_open_liability_idx ON public.point_lots (expires_at) INCLUDE (remaining) WHERE remaining > 0;
CREATE INDEX point_transactions_created_at_idx ON public.point_transactions (created_at) INCLUDE (kind, points);

-- What the programme owes now: every open lot (those past expires_at count until the nightly
-- run expires them), what of it expires within 30, 60 and 90 days (each includes the shorter
-- windows), and the debt of members whose balance a refund took below zero.
CREATE VIEW public.points_liability AS
SELECT
    coalesce(l.outstanding, 0)::bigint AS outstanding,
    coalesce(l.expiring_30d, 0)::bigint AS expiring_30d,
    coalesce(l.expiring_60d, 0)::bigint AS expiring_60d,
    coalesce(l.expiring_90d, 0)::bigint AS expiring_90d,
    (SELECT coalesce(-sum(points_balance), 0) FROM public.members WHERE points_balance < 0)::bigint AS debt,
    now() AS as_of
FROM (
    SELECT sum(remaining) AS outstanding,
           sum(remaining) FILTER (WHERE expires_at < now() + interval '30 days') AS expiring_30d,
           sum(remaining) FILTER (WHERE expires_at < now() + interval '60 days') AS expiring_60d,
           sum(remaining) FILTER (WHERE expires_at < now() + interval '90 days') AS expiring_90d
    FROM public.point_lots WHERE remaining > 0
) l;
COMMENT ON VIEW public.points_liability IS 'Points outstanding (open lots), expiring within 30/60/90 days, and members'' debt. Admin only.';

-- Points earned (every credit), spent (redemptions), expired, and reversed (refunds and
-- negative adjustments) per calendar month in the programme's time zone, for the current month
-- and the 11 before it; a month without entries is a row of zeros.
CREATE VIEW public.points_flow_monthly AS
WITH tz AS (
    SELECT coalesce((SELECT timezone FROM public.program_settings WHERE id = 1), 'UTC') AS name
), months AS (
    SELECT generate_series(
        date_trunc('month', now() AT TIME ZONE tz.name) - interval '11 months',
        date_trunc('month', now() AT TIME ZONE tz.name),
        interval '1 month') AS local_start, tz.name
    FROM tz
), flow AS (
    SELECT date_trunc('month', t.created_at AT TIME ZONE tz.name) AS local_start,
           sum(t.points) FILTER (WHERE t.points > 0) AS earned,
           -sum(t.points) FILTER (WHERE t.kind = 'redeem') AS spent,
           -sum(t.points) FILTER (WHERE t.kind = 'expire') AS expired,
           -sum(t.points) FILTER (WHERE t.points < 0 AND t.kind NOT IN ('redeem', 'expire')) AS reversed
    FROM public.point_transactions t, tz
    WHERE t.created_at >= (date_trunc('month', now() AT TIME ZONE tz.name) - interval '11 months') AT TIME ZONE tz.name
    GROUP BY 1
)
SELECT to_char(m.local_start, 'YYYY-MM') AS month,
       (m.local_start AT TIME ZONE m.name) AS starts_at,
       coalesce(f.earned, 0)::bigint AS earned,
       coalesce(f.spent, 0)::bigint AS spent,
       coalesce(f.expired, 0)::bigint AS expired,
       coalesce(f.reversed, 0)::bigint AS reversed
FROM months m LEFT JOIN flow f ON f.local_start = m.local_start;
COMMENT ON VIEW public.points_flow_monthly IS 'Points earned, spent, expired and reversed per month (programme time zone), last 12 months. Admin only.';
