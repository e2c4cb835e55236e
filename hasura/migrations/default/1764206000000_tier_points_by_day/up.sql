-- Tier points without reading a member's whole year of ledger on every earn.
--
-- A tier counts the points of kinds earn and refund with created_at in the 365 days up to a
-- moment (no upper end). Summing a regular's ledger for that made each earn cost more the
-- more they had visited. tier_points_by_day keeps the same sums per member and UTC day,
-- written by a trigger with each ledger line, so every writer (the functions, a hotfix)
-- keeps it right. tier_points() then adds at most 366 day rows and the ledger lines of the
-- one day the window starts in: bounded, and exact to the microsecond.

CREATE TABLE public.tier_points_by_day (
    member_id uuid   NOT NULL REFERENCES public.members (id),
    day       date   NOT NULL,
    points    bigint NOT NULL,
    PRIMARY KEY (member_id, day)
);
COMMENT ON TABLE public.tier_points_by_day IS
    'Sum of earn and refund points per member and UTC day of created_at; kept by a trigger on point_transactions. Read through tier_points().';

CREATE FUNCTION public.tier_points_by_day_add() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.tier_points_by_day (member_id, day, points)
    VALUES (NEW.member_id, (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.points)
    ON CONFLICT (member_id, day) DO UPDATE SET points = tier_points_by_day.points + EXCLUDED.points;
    RETURN NULL;
END;
$$;
CREATE TRIGGER point_transactions_tier_points
    AFTER INSERT ON public.point_transactions
    FOR EACH ROW WHEN (NEW.kind IN ('earn', 'refund') AND NEW.points <> 0)
    EXECUTE FUNCTION public.tier_points_by_day_add();

-- The points that count for tiers at p_at: entries with created_at > p_at - 365 days. Whole
-- days after the window's first day come from tier_points_by_day; the first day, which the
-- window cuts, from the ledger itself (point_transactions_member_created_idx).
CREATE FUNCTION public.tier_points(p_member uuid, p_at timestamptz) RETURNS bigint
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

INSERT INTO public.tier_points_by_day (member_id, day, points)
SELECT member_id, (created_at AT TIME ZONE 'UTC')::date, sum(points)
FROM public.point_transactions
WHERE kind IN ('earn', 'refund') AND points <> 0
GROUP BY 1, 2;
