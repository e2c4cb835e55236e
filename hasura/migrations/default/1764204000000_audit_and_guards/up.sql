-- Who did what, guessing limits, and profile checks that hold for every writer.

-- The user who made a ledger entry or used a coupon (Cognito sub of the crew member, operator
-- or member); null for what the programme did itself (triggers, crons). Admin only in Hasura.
ALTER TABLE public.point_transactions ADD COLUMN created_by uuid;
ALTER TABLE public.coupons ADD COLUMN used_by uuid;

-- earnPoints answers not_found for a member code no member holds; each such answer is
-- counted here per calling user, so a cool-down holds across pods.
CREATE TABLE public.member_lookup_misses (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   uuid NOT NULL,
    missed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX member_lookup_misses_user_idx ON public.member_lookup_misses (user_id, missed_at DESC);
ALTER TABLE public.program_settings
    ADD COLUMN member_lookup_miss_limit integer NOT NULL DEFAULT 20 CHECK (member_lookup_miss_limit > 0),
    ADD COLUMN member_lookup_miss_window_seconds integer NOT NULL DEFAULT 600 CHECK (member_lookup_miss_window_seconds > 0);

-- Profile fields are held to registerMember's rules whoever writes them (a member through
-- Hasura, an operator's SQL).
ALTER TABLE public.members ADD CONSTRAINT members_profile_check CHECK (
    char_length(display_name) BETWEEN 1 AND 100 AND display_name !~ '[[:cntrl:]]'
    AND (email IS NULL OR (char_length(email) <= 254 AND email !~ '[[:cntrl:][:space:]]'))
    AND (phone IS NULL OR (char_length(phone) <= 32 AND phone !~ '[[:cntrl:]]'))
    AND (birthday IS NULL OR (birthday >= DATE '1900-01-01' AND birthday <= (created_at AT TIME ZONE 'UTC')::date + 1))
) NOT VALID;
ALTER TABLE public.members VALIDATE CONSTRAINT members_profile_check;
