-- Each member QR token (by its jti) credits one receipt: earnPoints records the order it
-- credited, so the same token on the same receipt is a retry and on another is refused.
-- Tokens live minutes (qr_token_ttl_seconds), so rows older than that only document the past.
CREATE TABLE public.member_qr_uses (
    token_id  text PRIMARY KEY CHECK (token_id <> '' AND length(token_id) <= 64),
    member_id uuid NOT NULL REFERENCES public.members (id),
    order_id  uuid NOT NULL REFERENCES public.orders (id),
    used_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX member_qr_uses_order_id_idx ON public.member_qr_uses (order_id);
CREATE INDEX member_qr_uses_member_id_idx ON public.member_qr_uses (member_id);
