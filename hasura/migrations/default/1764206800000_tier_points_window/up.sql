-- The points of the 365-day window as a set-returning SQL function, which PostgreSQL inlines
-- into a statement that calls it in FROM: planned with that statement, once, and run with
-- no function call. An earn reads its member's tier points this way; tier_points() keeps its
-- signature for every other caller and answers from the same definition.
--
-- It must stay LANGUAGE sql, STABLE, not STRICT and a single SELECT to be inlined (a test
-- checks the earn's read has no function scan in its plan).
CREATE FUNCTION public.tier_points_window(p_member uuid, p_at timestamptz) RETURNS TABLE (points bigint)
    LANGUAGE sql STABLE AS $$
    -- Whole days after the window's first day from tier_points_by_day (its key alone); the
    -- first day, which the window cuts, from the ledger (point_transactions_member_created_idx).
    SELECT coalesce((SELECT sum(d.points) FROM public.tier_points_by_day d
                     WHERE d.member_id = p_member
                       AND d.day > ((p_at - interval '365 days') AT TIME ZONE 'UTC')::date), 0)
         + coalesce((SELECT sum(t.points) FROM public.point_transactions t
                     WHERE t.member_id = p_member AND t.kind IN ('earn', 'refund')
                       AND t.created_at > p_at - interval '365 days'
                       AND t.created_at < ((((p_at - interval '365 days') AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC')), 0)
$$;
COMMENT ON FUNCTION public.tier_points_window(uuid, timestamptz) IS
    'The tier points of a member at a moment (entries of kinds earn and refund with created_at in the 365 days up to it), as one row; inlined where called in FROM.';

CREATE OR REPLACE FUNCTION public.tier_points(p_member uuid, p_at timestamptz) RETURNS bigint
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT w.points FROM public.tier_points_window(p_member, p_at) w);
END;
$$;
