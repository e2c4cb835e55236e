ALTER TABLE public.tier_points_by_day DROP CONSTRAINT tier_points_by_day_pkey;
ALTER TABLE public.tier_points_by_day ADD PRIMARY KEY (member_id, day);
