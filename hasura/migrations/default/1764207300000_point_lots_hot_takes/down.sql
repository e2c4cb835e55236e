SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = 0;

CREATE OR REPLACE VIEW public.points_liability AS
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

-- Dropping the column drops the two indexes that select on it.
ALTER TABLE public.point_lots DROP COLUMN is_open;
ALTER TABLE public.point_lots RESET (fillfactor);
CREATE INDEX point_lots_member_open_idx ON public.point_lots (member_id, expires_at, id) WHERE remaining > 0;
CREATE INDEX point_lots_open_liability_idx ON public.point_lots (expires_at, id) INCLUDE (remaining) WHERE remaining > 0;
