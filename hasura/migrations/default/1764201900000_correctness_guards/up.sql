-- Guards that a bug in the functions, a POS integration or an operator's SQL cannot get past.

-- Amounts, points and balances fit GraphQL's Int (32-bit signed), which is how the apps read
-- them. Added NOT VALID and validated after, so the check scans under a lock that lets reads
-- and writes go on.
ALTER TABLE public.members ADD CONSTRAINT members_points_balance_int4_check
    CHECK (points_balance BETWEEN -2147483648 AND 2147483647) NOT VALID;
ALTER TABLE public.point_transactions ADD CONSTRAINT point_transactions_points_int4_check
    CHECK (points BETWEEN -2147483648 AND 2147483647 AND balance_after BETWEEN -2147483648 AND 2147483647) NOT VALID;
ALTER TABLE public.point_lots ADD CONSTRAINT point_lots_points_int4_check
    CHECK (points <= 2147483647) NOT VALID;
ALTER TABLE public.orders ADD CONSTRAINT orders_amount_int4_check
    CHECK (amount <= 2147483647) NOT VALID;
ALTER TABLE public.rewards ADD CONSTRAINT rewards_points_cost_int4_check
    CHECK (points_cost <= 2147483647) NOT VALID;
ALTER TABLE public.refund_requests ADD CONSTRAINT refund_requests_int4_check
    CHECK (amount <= 2147483647 AND points_reversed <= 2147483647
           AND (points_balance IS NULL OR points_balance BETWEEN -2147483648 AND 2147483647)) NOT VALID;
ALTER TABLE public.program_settings ADD CONSTRAINT program_settings_int4_check
    CHECK (earn_spend_unit <= 2147483647 AND earn_points_per_unit <= 2147483647
           AND welcome_bonus_points <= 2147483647 AND birthday_bonus_points <= 2147483647
           AND max_order_amount <= 2147483647) NOT VALID;
ALTER TABLE public.members VALIDATE CONSTRAINT members_points_balance_int4_check;
ALTER TABLE public.point_transactions VALIDATE CONSTRAINT point_transactions_points_int4_check;
ALTER TABLE public.point_lots VALIDATE CONSTRAINT point_lots_points_int4_check;
ALTER TABLE public.orders VALIDATE CONSTRAINT orders_amount_int4_check;
ALTER TABLE public.rewards VALIDATE CONSTRAINT rewards_points_cost_int4_check;
ALTER TABLE public.refund_requests VALIDATE CONSTRAINT refund_requests_int4_check;
ALTER TABLE public.program_settings VALIDATE CONSTRAINT program_settings_int4_check;

-- A receipt number is stored without surrounding white space, whoever writes it (the counter
-- through earnPoints, or a POS straight through Hasura), so "R-1 " and "R-1" are one receipt
-- under orders_store_receipt_key.
CREATE FUNCTION public.orders_trim_receipt_no() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.receipt_no := regexp_replace(NEW.receipt_no, '^[[:space:]]+|[[:space:]]+$', '', 'g');
    RETURN NEW;
END;
$$;
CREATE TRIGGER orders_trim_receipt_no
    BEFORE INSERT OR UPDATE OF receipt_no ON public.orders
    FOR EACH ROW EXECUTE FUNCTION public.orders_trim_receipt_no();
-- Checked on every new or changed row; rows written before stay as they are (not validated),
-- since trimming an old receipt could collide with a trimmed twin.
ALTER TABLE public.orders ADD CONSTRAINT orders_receipt_no_trimmed_check
    CHECK (receipt_no = regexp_replace(receipt_no, '^[[:space:]]+|[[:space:]]+$', '', 'g')) NOT VALID;

-- Once an order has earned points, its member is fixed: the earn, any refund of it and the
-- lots belong to that member's ledger, and moving the order to someone else would let a
-- refund take points from a member who never had them. A POS that credited the wrong member
-- refunds the order and records a new one for the right member.
CREATE FUNCTION public.orders_member_fixed_once_credited() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM public.point_transactions WHERE order_id = OLD.id AND kind = 'earn') THEN
        RAISE EXCEPTION 'order % has earned points for member %: its member cannot change', OLD.id, OLD.member_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'orders_member_fixed_once_credited',
                  HINT = 'refund the order and record a new one for the right member';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER orders_member_fixed_once_credited
    BEFORE UPDATE OF member_id ON public.orders
    FOR EACH ROW WHEN (OLD.member_id IS NOT NULL AND OLD.member_id IS DISTINCT FROM NEW.member_id)
    EXECUTE FUNCTION public.orders_member_fixed_once_credited();

-- Where a cron run that used its time budget stopped, so Hasura's retry of the same delivery
-- continues from there instead of starting over. Removed when the run completes.
CREATE TABLE public.cron_progress (
    trigger     text NOT NULL,
    delivery_id text NOT NULL,
    cursor      jsonb NOT NULL DEFAULT '{}',
    outcome     jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trigger, delivery_id)
);
