CREATE INDEX point_lots_open_expires_at_only_idx ON public.point_lots (expires_at) INCLUDE (remaining) WHERE remaining > 0;
DROP INDEX public.point_lots_open_liability_idx;
ALTER INDEX public.point_lots_open_expires_at_only_idx RENAME TO point_lots_open_liability_idx;
