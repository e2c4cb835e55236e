-- point_lots_open_liability_idx (expires_at) INCLUDE (remaining) WHERE remaining > 0 serves
-- every query point_lots_open_expires_at_idx served (same key, same predicate). Every change
-- of a lot's remaining (each redemption, refund and expiry) wrote both; now one.
DROP INDEX public.point_lots_open_expires_at_idx;
