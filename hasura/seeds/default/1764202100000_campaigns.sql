-- Example campaigns, one of each kind, switched off: an operator sets active = true (and the
-- window) to run them. Left inactive so that no seeded database earns differently by surprise.
INSERT INTO public.campaigns (id, name, description, kind, multiplier_pct, bonus_points, starts_at, ends_at, store_id, days_of_week, min_amount, min_tier_rank, active) VALUES
    ('5e0c0b8a-0000-4000-8000-0000000000c1', 'Double-points Tuesdays', 'Twice the points on every order on Tuesdays.',
     'multiplier', 200, NULL, '2026-01-01 00:00+09', '2027-01-01 00:00+09', NULL, ARRAY[2], NULL, 0, false),
    ('5e0c0b8a-0000-4000-8000-0000000000c2', 'Shibuya opening week', '50 bonus points on orders of 1,000 or more at Shibuya.',
     'bonus', NULL, 50, '2026-04-01 00:00+09', '2026-04-08 00:00+09', '5e0c0b8a-0000-4000-8000-000000000001', NULL, 1000, 0, false)
ON CONFLICT (id) DO NOTHING;

-- Referrals: 300 points to the referrer, 200 to the new member, on the new member's first
-- order of 1,000 or more; a referrer is paid for up to 20 referrals a calendar year.
UPDATE public.program_settings
SET referral_bonus_points = 300, referee_bonus_points = 200, referral_min_amount = 1000, referral_yearly_limit = 20
WHERE id = 1 AND referral_bonus_points = 0 AND referee_bonus_points = 0;
