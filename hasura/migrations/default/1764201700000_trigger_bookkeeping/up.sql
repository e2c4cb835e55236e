-- What the event and cron trigger handlers need to make each effect happen exactly once under
-- Hasura's at-least-once delivery, and to let operators see what failed.

-- A delivery (event or cron id) whose effect is committed; written in the same transaction
-- as the effect, so a redelivered or concurrently duplicated event changes nothing.
CREATE TABLE public.trigger_deliveries (
    trigger      text NOT NULL,
    delivery_id  text NOT NULL,
    result       jsonb NOT NULL DEFAULT '{}',
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trigger, delivery_id)
);
CREATE INDEX trigger_deliveries_processed_at_idx ON public.trigger_deliveries (processed_at);

-- Every failed delivery, one row per (trigger, delivery) with its attempts, so an operator can
-- see and replay what Hasura gave up on. resolved_at is set when a later attempt succeeds.
CREATE TABLE public.trigger_failures (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trigger         text NOT NULL,
    delivery_id     text NOT NULL,
    payload         text NOT NULL,
    status          integer NOT NULL,
    error           text NOT NULL,
    attempts        integer NOT NULL DEFAULT 1,
    last_attempt    integer NOT NULL DEFAULT 0,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    CONSTRAINT trigger_failures_delivery_key UNIQUE (trigger, delivery_id)
);
CREATE INDEX trigger_failures_open_idx ON public.trigger_failures (last_failed_at DESC) WHERE resolved_at IS NULL;

-- The outbox of messages for members; a sender drains it (sent_at) later.
CREATE TABLE public.notifications (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    member_id      uuid NOT NULL REFERENCES public.members (id),
    kind           text NOT NULL CHECK (kind IN ('earn', 'bonus', 'redeem', 'expire', 'adjust', 'refund', 'tier_up', 'tier_down')),
    title          text NOT NULL,
    body           text NOT NULL,
    transaction_id uuid REFERENCES public.point_transactions (id),
    -- One notification per fact, whichever delivery of whichever event wrote it.
    dedupe_key     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    CONSTRAINT notifications_dedupe_key_key UNIQUE (dedupe_key)
);
CREATE INDEX notifications_member_created_idx ON public.notifications (member_id, created_at DESC);
CREATE INDEX notifications_unsent_idx ON public.notifications (created_at) WHERE sent_at IS NULL;
CREATE INDEX notifications_transaction_id_idx ON public.notifications (transaction_id) WHERE transaction_id IS NOT NULL;
