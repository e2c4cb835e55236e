DROP VIEW public.points_flow_monthly;
DROP VIEW public.points_liability;
DROP INDEX public.point_transactions_created_at_idx;
DROP INDEX public.point_lots_open_liability_idx;
DROP TABLE public.hotfix_runs;
