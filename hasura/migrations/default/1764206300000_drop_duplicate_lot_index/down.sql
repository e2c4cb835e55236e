CREATE INDEX point_lots_open_expires_at_idx ON public.point_lots (expires_at) WHERE remaining > 0;
