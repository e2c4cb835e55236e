-- Growth: campaigns applied at earn time, referrals paid on the referee's first qualifying
-- order, and expiry reminders in the notifications outbox.

CREATE TABLE public.campaigns (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL CHECK (name <> ''),
    description    text,
    kind           text NOT NULL CHECK (kind IN ('multiplier', 'bonus')),
    -- 200 = double points, on top of the tier's multiplier; capped so no order can overflow.
    multiplier_pct integer CHECK (multiplier_pct > 100 AND multiplier_pct <= 1000),
    bonus_points   integer CHECK (bonus_points > 0),
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    store_id       uuid REFERENCES public.stores (id),
    -- ISO weekdays (1 = Monday ... 7 = Sunday) in the programme's time zone; null = every day.
    days_of_week   integer[] CHECK (days_of_week IS NULL OR (cardinality(days_of_week) > 0
                       AND days_of_week <@ ARRAY[1, 2, 3, 4, 5, 6, 7] AND array_position(days_of_week, NULL) IS NULL)),
    min_amount     bigint CHECK (min_amount >= 0 AND min_amount <= 2147483647),
    min_tier_rank  integer NOT NULL DEFAULT 0 CHECK (min_tier_rank >= 0),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaigns_kind_fields_check CHECK (
        (kind = 'multiplier' AND multiplier_pct IS NOT NULL AND bonus_points IS NULL) OR
        (kind = 'bonus' AND bonus_points IS NOT NULL AND multiplier_pct IS NULL)),
    -- The window is [starts_at, ends_at).
    CONSTRAINT campaigns_window_check CHECK (starts_at < ends_at)
);
-- Earning looks up the active campaigns whose window holds the order's paid_at.
CREATE INDEX campaigns_active_window_idx ON public.campaigns (ends_at, starts_at) WHERE active;
CREATE INDEX campaigns_store_id_idx ON public.campaigns (store_id) WHERE store_id IS NOT NULL;

-- The campaigns an earn entry applied, so a repeated earnPoints answers the same campaignIds.
ALTER TABLE public.point_transactions ADD COLUMN campaign_ids uuid[] NOT NULL DEFAULT '{}';

-- Referral codes: 8 characters of the coupon alphabet (no look-alikes), drawn at insert.
-- Not secret (members share them), so random() is enough; a rare collision fails the insert
-- on the unique key and registerMember draws again.
CREATE FUNCTION public.new_referral_code() RETURNS text
    LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(substr('23456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 30)::int, 1), '')
    FROM generate_series(1, 8)
$$;
ALTER TABLE public.members ADD COLUMN referral_code text;
-- Existing members get theirs now, all at once; then every member whose code another member
-- drew too (all but the first of each such code) draws again, until no code is held twice, so
-- that the unique key below can be added. With 30^8 codes a collision is likely only from about
-- a million members, and a redraw rarely collides again: the loop ends after a pass or two.
UPDATE public.members SET referral_code = public.new_referral_code() WHERE referral_code IS NULL;
DO $$
BEGIN
    LOOP
        UPDATE public.members m SET referral_code = public.new_referral_code()
        FROM (SELECT id, row_number() OVER (PARTITION BY referral_code ORDER BY id) AS n FROM public.members) d
        WHERE d.id = m.id AND d.n > 1;
        EXIT WHEN NOT FOUND;
    END LOOP;
END $$;
ALTER TABLE public.members
    ALTER COLUMN referral_code SET DEFAULT public.new_referral_code(),
    ALTER COLUMN referral_code SET NOT NULL,
    ADD CONSTRAINT members_referral_code_key UNIQUE (referral_code),
    ADD CONSTRAINT members_referral_code_check CHECK (referral_code ~ '^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{8}$');
ALTER TABLE public.members
    ADD COLUMN referred_by uuid REFERENCES public.members (id),
    -- The referee's order that paid the referral: set once, so it is paid once.
    ADD COLUMN referral_order_id uuid REFERENCES public.orders (id),
    ADD CONSTRAINT members_referred_by_check CHECK (referred_by <> id),
    ADD CONSTRAINT members_referral_order_check CHECK (referral_order_id IS NULL OR referred_by IS NOT NULL);
CREATE INDEX members_referred_by_idx ON public.members (referred_by) WHERE referred_by IS NOT NULL;

ALTER TABLE public.program_settings
    ADD COLUMN referral_bonus_points integer NOT NULL DEFAULT 0 CHECK (referral_bonus_points >= 0),
    ADD COLUMN referee_bonus_points  integer NOT NULL DEFAULT 0 CHECK (referee_bonus_points >= 0),
    ADD COLUMN referral_min_amount   integer NOT NULL DEFAULT 0 CHECK (referral_min_amount >= 0),
    -- Referrals a referrer is paid for per calendar year (programme time zone); null = no limit.
    ADD COLUMN referral_yearly_limit integer CHECK (referral_yearly_limit > 0),
    -- Days ahead an expiry reminder looks; 0 turns points reminders off.
    ADD COLUMN expiry_reminder_days  integer NOT NULL DEFAULT 14 CHECK (expiry_reminder_days >= 0 AND expiry_reminder_days <= 365);

-- Notifications carry machine-readable data beside the English text, so the app can show
-- them in the member's language; the member marks them read.
ALTER TABLE public.notifications
    ADD COLUMN data jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN read_at timestamptz,
    DROP CONSTRAINT notifications_kind_check,
    ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('earn', 'bonus', 'redeem', 'expire', 'adjust', 'refund',
        'tier_up', 'tier_down', 'points_expiring', 'coupon_expiring'));
CREATE INDEX notifications_member_unread_idx ON public.notifications (member_id, created_at DESC) WHERE read_at IS NULL;
