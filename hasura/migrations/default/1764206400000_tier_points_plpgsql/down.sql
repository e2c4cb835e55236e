-- Back to the SQL function of 1764206000000_tier_points_by_day.
CREATE OR REPLACE FUNCTION public.tier_points(p_member uuid, p_at timestamptz) RETURNS bigint
    LANGUAGE sql STABLE AS $$
    WITH w AS (
        SELECT p_at - interval '365 days' AS since,
               ((p_at - interval '365 days') AT TIME ZONE 'UTC')::date AS first_day
    )
    SELECT coalesce((SELECT sum(d.points) FROM public.tier_points_by_day d, w
                     WHERE d.member_id = p_member AND d.day > w.first_day), 0)
         + coalesce((SELECT sum(t.points) FROM public.point_transactions t, w
                     WHERE t.member_id = p_member AND t.kind IN ('earn', 'refund')
                       AND t.created_at > w.since
                       AND t.created_at < ((w.first_day + 1)::timestamp AT TIME ZONE 'UTC')), 0)
$$;
