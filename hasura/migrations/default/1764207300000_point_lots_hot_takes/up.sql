-- A redemption that takes part of a lot becomes a HOT update: the new row version goes on the
-- lot's own page and no index gets an entry for it. PostgreSQL makes an update HOT only when
-- no column any index reads changes (its key, INCLUDE or WHERE) and the page has room. Before
-- this, remaining was in both open-lot indexes (their WHERE remaining > 0, and the liability
-- index's INCLUDE), so every take wrote point_lots_pkey, point_lots_transaction_id_key and the
-- two partial indexes, reading their pages from disk at a large size (docs/scaling.md).
--
-- * is_open, a stored generated column (remaining > 0): PostgreSQL computes it on every write,
--   so no writer can get it wrong. A partial take leaves it true, so only a take that empties
--   the lot (which must leave the open indexes anyway) still writes the indexes.
-- * The open-lot indexes are WHERE is_open; the liability index no longer covers remaining
--   (its sums read the lots' heap pages), and queries of open lots say is_open, which the
--   planner needs to use a partial index: it cannot prove is_open from remaining > 0.
-- * fillfactor 90 leaves room on each page for the new versions; the rewrite that adding a
--   stored column makes packs every existing page that way.
--
-- The rewrite holds an ACCESS EXCLUSIVE lock on point_lots until it commits: every earn,
-- redemption and refund waits. 16,400,000 lots took 32.5 s here (docs/operations.md,
-- "Migrations that rewrite a table"): release it when the stores are closed. It gives up
-- after 10 s if it cannot get the lock (a long report holding it), instead of making every
-- write queue behind it, and is not cut off by the 10 s statement_timeout of Hasura's user.
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = 0;

DROP INDEX public.point_lots_member_open_idx;
DROP INDEX public.point_lots_open_liability_idx;

ALTER TABLE public.point_lots SET (fillfactor = 90);
ALTER TABLE public.point_lots ADD COLUMN is_open boolean GENERATED ALWAYS AS (remaining > 0) STORED;
COMMENT ON COLUMN public.point_lots.is_open IS 'remaining > 0, kept by PostgreSQL: what the open-lot indexes select on.';

CREATE INDEX point_lots_member_open_idx ON public.point_lots (member_id, expires_at, id) WHERE is_open;
CREATE INDEX point_lots_open_liability_idx ON public.point_lots (expires_at, id) WHERE is_open;

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
    FROM public.point_lots WHERE is_open
) l;

-- The planner's figures for is_open, which the rewrite did not gather (a sample: seconds).
ANALYZE public.point_lots;
