-- A refundOrder call made with an idempotencyKey, and what it answered: a store app that
-- retries a refund after a timeout gets the first answer instead of refunding twice.
CREATE TABLE public.refund_requests (
    order_id        uuid NOT NULL REFERENCES public.orders (id),
    idempotency_key text NOT NULL CHECK (idempotency_key <> ''),
    amount          bigint NOT NULL CHECK (amount >= 0),
    transaction_id  uuid REFERENCES public.point_transactions (id),
    points_reversed bigint NOT NULL CHECK (points_reversed >= 0),
    points_balance  bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, idempotency_key)
);
CREATE INDEX refund_requests_transaction_id_idx ON public.refund_requests (transaction_id) WHERE transaction_id IS NOT NULL;
