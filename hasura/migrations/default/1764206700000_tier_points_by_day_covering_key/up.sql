-- tier_points() sums a member's days from the primary key alone.
--
-- tier_points_by_day gets a row per member and day as the days go by, so one member's rows
-- of a year lie on as many heap pages as they had days with points, among everyone else's:
-- summing them (on every earn, and for every member tier_review reviews) read one heap page
-- per day, from memory or disk. With points in the key's index (INCLUDE), the sum is an
-- index-only scan of the member's consecutive entries, one or two leaf pages, whatever their
-- history. ON CONFLICT (member_id, day) is served by the same unique index.
--
-- On a large database, build the index first without blocking writes, then apply this
-- migration, which then only swaps the constraint (docs/operations.md, "Migrations that
-- build an index"):
--   CREATE UNIQUE INDEX CONCURRENTLY tier_points_by_day_member_day_points_key
--       ON public.tier_points_by_day (member_id, day) INCLUDE (points);
CREATE UNIQUE INDEX IF NOT EXISTS tier_points_by_day_member_day_points_key
    ON public.tier_points_by_day (member_id, day) INCLUDE (points);
ALTER TABLE public.tier_points_by_day DROP CONSTRAINT tier_points_by_day_pkey;
ALTER TABLE public.tier_points_by_day
    ADD CONSTRAINT tier_points_by_day_pkey PRIMARY KEY USING INDEX tier_points_by_day_member_day_points_key;
