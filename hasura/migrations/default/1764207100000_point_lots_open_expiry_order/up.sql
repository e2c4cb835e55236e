-- point_lots_open_liability_idx gets id after expires_at in its key: (expires_at, id)
-- INCLUDE (remaining) WHERE remaining > 0. expiry_reminders walks the open lots of its window
-- in (expires_at, id) order, a batch at a time from the last lot done; with id in the key each
-- batch is a range of the index, however many lots share one expires_at (a bulk import gives
-- thousands the same). The liability sums read the same leading key and the same covered
-- column, and every change of a lot still writes one index, as before.
--
-- On a large database, build the index first without blocking writes, then apply this
-- migration, which then only drops the old one and renames (docs/operations.md, "Migrations
-- that build an index"):
--   CREATE INDEX CONCURRENTLY point_lots_open_expiry_order_idx
--       ON public.point_lots (expires_at, id) INCLUDE (remaining) WHERE remaining > 0;
CREATE INDEX IF NOT EXISTS point_lots_open_expiry_order_idx
    ON public.point_lots (expires_at, id) INCLUDE (remaining) WHERE remaining > 0;
DROP INDEX public.point_lots_open_liability_idx;
ALTER INDEX public.point_lots_open_expiry_order_idx RENAME TO point_lots_open_liability_idx;
