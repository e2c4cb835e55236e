ALTER TABLE public.members DROP CONSTRAINT members_profile_check;
ALTER TABLE public.program_settings DROP COLUMN member_lookup_miss_window_seconds, DROP COLUMN member_lookup_miss_limit;
DROP TABLE public.member_lookup_misses;
ALTER TABLE public.coupons DROP COLUMN used_by;
ALTER TABLE public.point_transactions DROP COLUMN created_by;
