-- Kaiser Kitchen loyalty points: the initial schema.
-- Constraints carry the invariants, so that a bug in the functions cannot break them silently.

CREATE TABLE public.tiers (
    id                  text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_]*$'),
    name                text NOT NULL,
    rank                integer NOT NULL UNIQUE CHECK (rank >= 0),
    min_points          bigint NOT NULL CHECK (min_points >= 0),
    earn_multiplier_pct integer NOT NULL CHECK (earn_multiplier_pct > 0)
);
COMMENT ON TABLE public.tiers IS 'Membership tiers; min_points = points earned in the last 365 days to hold the tier.';

CREATE TABLE public.program_settings (
    id                     integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    earn_spend_unit        bigint  NOT NULL CHECK (earn_spend_unit > 0),
    earn_points_per_unit   bigint  NOT NULL CHECK (earn_points_per_unit >= 0),
    points_validity_days   integer NOT NULL CHECK (points_validity_days > 0),
    welcome_bonus_points   bigint  NOT NULL DEFAULT 0 CHECK (welcome_bonus_points >= 0),
    birthday_bonus_points  bigint  NOT NULL DEFAULT 0 CHECK (birthday_bonus_points >= 0),
    max_order_amount       bigint  NOT NULL CHECK (max_order_amount > 0),
    qr_token_ttl_seconds   integer NOT NULL CHECK (qr_token_ttl_seconds > 0),
    -- now() AT TIME ZONE raises for a name Postgres does not know, so a typo cannot land.
    timezone               text    NOT NULL DEFAULT 'UTC' CHECK ((now() AT TIME ZONE timezone) IS NOT NULL),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.program_settings IS 'The one row (id = 1) operators tune without a deploy.';

CREATE TABLE public.stores (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code       text NOT NULL UNIQUE,
    name       text NOT NULL,
    timezone   text NOT NULL DEFAULT 'UTC' CHECK ((now() AT TIME ZONE timezone) IS NOT NULL),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.staff (
    user_id    uuid NOT NULL,
    store_id   uuid NOT NULL REFERENCES public.stores (id),
    role       text NOT NULL CHECK (role IN ('crew', 'manager')),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, store_id)
);
CREATE INDEX staff_store_id_idx ON public.staff (store_id);

CREATE TABLE public.members (
    id             uuid PRIMARY KEY,
    -- 9 random digits and a Luhn check digit, printed on the card.
    member_code    text NOT NULL UNIQUE CHECK (member_code ~ '^[0-9]{10}$'),
    display_name   text NOT NULL,
    email          text,
    phone          text,
    birthday       date,
    tier_id        text NOT NULL DEFAULT 'member' REFERENCES public.tiers (id),
    points_balance bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);
CREATE INDEX members_tier_id_idx ON public.members (tier_id);
-- birthday_bonus looks members up by month and day.
CREATE INDEX members_birthday_md_idx ON public.members ((extract(month FROM birthday)), (extract(day FROM birthday)))
    WHERE birthday IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE public.rewards (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name              text NOT NULL,
    description       text,
    image_url         text,
    points_cost       bigint NOT NULL CHECK (points_cost > 0),
    stock             integer CHECK (stock >= 0),
    per_member_limit  integer CHECK (per_member_limit > 0),
    min_tier_rank     integer NOT NULL DEFAULT 0 CHECK (min_tier_rank >= 0),
    coupon_valid_days integer NOT NULL DEFAULT 30 CHECK (coupon_valid_days > 0),
    active_from       timestamptz,
    active_to         timestamptz,
    active            boolean NOT NULL DEFAULT true,
    -- Set when only one store honours the reward's coupons (coupon_wrong_store elsewhere).
    store_id          uuid REFERENCES public.stores (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (active_from IS NULL OR active_to IS NULL OR active_from < active_to)
);

CREATE TABLE public.orders (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    store_id        uuid NOT NULL REFERENCES public.stores (id),
    receipt_no      text NOT NULL CHECK (receipt_no <> ''),
    member_id       uuid REFERENCES public.members (id),
    amount          bigint NOT NULL CHECK (amount >= 0),
    refunded_amount bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
    -- 'pending' lets a POS write an order before payment; order_paid fires when it turns 'paid'.
    status          text NOT NULL DEFAULT 'paid' CHECK (status IN ('pending', 'paid', 'refunded')),
    paid_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_store_receipt_key UNIQUE (store_id, receipt_no),
    CONSTRAINT orders_refunded_status_check CHECK ((status = 'refunded') = (refunded_amount = amount AND amount > 0))
);
CREATE INDEX orders_member_id_idx ON public.orders (member_id, paid_at DESC);
CREATE INDEX orders_store_paid_at_idx ON public.orders (store_id, paid_at DESC);

CREATE TABLE public.coupons (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code          text NOT NULL CHECK (code ~ '^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{8}$'),
    member_id     uuid NOT NULL REFERENCES public.members (id),
    reward_id     uuid NOT NULL REFERENCES public.rewards (id),
    status        text NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'used', 'expired', 'cancelled')),
    issued_at     timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    used_store_id uuid REFERENCES public.stores (id),
    CONSTRAINT coupons_code_key UNIQUE (code),
    CONSTRAINT coupons_used_check CHECK ((status = 'used') = (used_at IS NOT NULL AND used_store_id IS NOT NULL)),
    CHECK (expires_at > issued_at)
);
CREATE INDEX coupons_member_reward_idx ON public.coupons (member_id, reward_id) WHERE status = 'issued';
CREATE INDEX coupons_member_issued_at_idx ON public.coupons (member_id, issued_at DESC);
CREATE INDEX coupons_reward_id_idx ON public.coupons (reward_id);
CREATE INDEX coupons_issued_expires_at_idx ON public.coupons (expires_at) WHERE status = 'issued';

CREATE TABLE public.point_transactions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id       uuid NOT NULL REFERENCES public.members (id),
    kind            text NOT NULL CHECK (kind IN ('earn', 'bonus', 'redeem', 'expire', 'adjust', 'refund')),
    points          bigint NOT NULL,
    balance_after   bigint NOT NULL,
    order_id        uuid REFERENCES public.orders (id),
    coupon_id       uuid REFERENCES public.coupons (id),
    store_id        uuid REFERENCES public.stores (id),
    reason          text,
    idempotency_key text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Taken at insert, under the member's row lock: the order in which entries moved the
    -- balance, which created_at (read before the lock) cannot promise.
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    CONSTRAINT point_transactions_seq_key UNIQUE (seq),
    CONSTRAINT point_transactions_idempotency_key_key UNIQUE (idempotency_key),
    -- Credits are never negative, debits never positive; only a refund may leave a balance below zero.
    CONSTRAINT point_transactions_sign_check CHECK (CASE kind
        WHEN 'earn'   THEN points >= 0
        WHEN 'bonus'  THEN points > 0
        WHEN 'redeem' THEN points < 0
        WHEN 'expire' THEN points < 0
        WHEN 'refund' THEN points < 0
        ELSE points <> 0 END),
    CONSTRAINT point_transactions_balance_check CHECK (balance_after >= 0 OR kind = 'refund' OR points > 0),
    CHECK (kind NOT IN ('earn', 'refund') OR order_id IS NOT NULL),
    CHECK (kind <> 'redeem' OR coupon_id IS NOT NULL)
);
CREATE INDEX point_transactions_member_created_idx ON public.point_transactions (member_id, created_at DESC);
CREATE INDEX point_transactions_order_id_idx ON public.point_transactions (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX point_transactions_coupon_id_idx ON public.point_transactions (coupon_id) WHERE coupon_id IS NOT NULL;

-- The ledger is append-only: corrections are new entries, never edits.
CREATE FUNCTION public.point_transactions_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'point_transactions is append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER point_transactions_append_only
    BEFORE UPDATE OR DELETE ON public.point_transactions
    FOR EACH ROW EXECUTE FUNCTION public.point_transactions_append_only();

CREATE TABLE public.point_lots (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id      uuid NOT NULL REFERENCES public.members (id),
    transaction_id uuid NOT NULL UNIQUE REFERENCES public.point_transactions (id),
    points         bigint NOT NULL CHECK (points > 0),
    remaining      bigint NOT NULL CHECK (remaining >= 0 AND remaining <= points),
    earned_at      timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    CHECK (expires_at > earned_at)
);
-- FIFO spending and expiry both read a member's open lots by expiry.
CREATE INDEX point_lots_member_open_idx ON public.point_lots (member_id, expires_at, id) WHERE remaining > 0;
CREATE INDEX point_lots_open_expires_at_idx ON public.point_lots (expires_at) WHERE remaining > 0;
