-- unless_raced(ok, what): true, or an error when ok is false.
--
-- The functions send a transaction's last write together with its COMMIT, in one round trip,
-- so a write that lost a race (a receipt, a QR token or a coupon code that a concurrent
-- transaction took between the read and the write, where ON CONFLICT DO NOTHING wrote
-- nothing) can no longer be rolled back from Go after its answer is read. The write checks
-- itself instead: its last SELECT calls unless_raced with what it wrote, and a false makes
-- the whole statement, and so the transaction, fail before the COMMIT. The error is a
-- serialization failure (40001), which the functions retry like any other: the next attempt
-- reads what the other transaction wrote.
CREATE FUNCTION public.unless_raced(ok boolean, what text) RETURNS boolean
    LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'a concurrent transaction wrote % first', what
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END;
$$;
COMMENT ON FUNCTION public.unless_raced(boolean, text) IS
    'true when ok; otherwise raises serialization_failure (40001) naming what a concurrent transaction wrote first. Called by the last write of a transaction that goes with its COMMIT.';
