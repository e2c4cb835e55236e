DROP FUNCTION public.tier_points(uuid, timestamptz);
DROP TRIGGER point_transactions_tier_points ON public.point_transactions;
DROP FUNCTION public.tier_points_by_day_add();
DROP TABLE public.tier_points_by_day;
