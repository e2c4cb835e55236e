-- Demo data so a new user has something to try. Re-runnable: existing rows are left alone.

INSERT INTO public.tiers (id, name, rank, min_points, earn_multiplier_pct) VALUES
    ('member', 'Member', 0,    0, 100),
    ('silver', 'Silver', 1, 1000, 125),
    ('gold',   'Gold',   2, 5000, 150)
ON CONFLICT (id) DO NOTHING;

-- 1 point per 100 (smallest currency unit), points valid a year, orders up to 1,000,000.
INSERT INTO public.program_settings (id, earn_spend_unit, earn_points_per_unit, points_validity_days,
    welcome_bonus_points, birthday_bonus_points, max_order_amount, qr_token_ttl_seconds, timezone)
VALUES (1, 100, 1, 365, 100, 200, 1000000, 120, 'Asia/Tokyo')
ON CONFLICT (id) DO NOTHING;

INSERT INTO public.stores (id, code, name, timezone, active) VALUES
    ('5e0c0b8a-0000-4000-8000-000000000001', 'SHIBUYA', 'Kaiser Kitchen Shibuya', 'Asia/Tokyo', true)
ON CONFLICT (id) DO NOTHING;

-- The demo crew member's Cognito sub; a manager, so refunds can be tried too.
INSERT INTO public.staff (user_id, store_id, role, active) VALUES
    ('5e0c0b8a-0000-4000-8000-0000000000a1', '5e0c0b8a-0000-4000-8000-000000000001', 'manager', true)
ON CONFLICT (user_id, store_id) DO NOTHING;

INSERT INTO public.rewards (id, name, description, points_cost, stock, per_member_limit, min_tier_rank, coupon_valid_days) VALUES
    ('5e0c0b8a-0000-4000-8000-0000000000b1', 'Free coffee', 'A regular coffee of your choice.', 100, NULL, NULL, 0, 30),
    ('5e0c0b8a-0000-4000-8000-0000000000b2', 'Dessert of the day', 'One dessert from today''s menu.', 250, 500, 2, 0, 14),
    ('5e0c0b8a-0000-4000-8000-0000000000b3', 'Chef''s tasting course', 'For gold members only.', 3000, 20, 1, 2, 60)
ON CONFLICT (id) DO NOTHING;
