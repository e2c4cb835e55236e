-- Back to tier_points() of 1764206400000_tier_points_plpgsql.
CREATE OR REPLACE FUNCTION public.tier_points(p_member uuid, p_at timestamptz) RETURNS bigint
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    since     timestamptz := p_at - interval '365 days';
    first_day date        := (since AT TIME ZONE 'UTC')::date;
BEGIN
    -- Whole days after the window's first day from tier_points_by_day; the first day, which
    -- the window cuts, from the ledger itself (point_transactions_member_created_idx).
    RETURN coalesce((SELECT sum(d.points) FROM public.tier_points_by_day d
                     WHERE d.member_id = p_member AND d.day > first_day), 0)
         + coalesce((SELECT sum(t.points) FROM public.point_transactions t
                     WHERE t.member_id = p_member AND t.kind IN ('earn', 'refund')
                       AND t.created_at > since
                       AND t.created_at < ((first_day + 1)::timestamp AT TIME ZONE 'UTC')), 0);
END;
$$;

DROP FUNCTION public.tier_points_window(uuid, timestamptz);
