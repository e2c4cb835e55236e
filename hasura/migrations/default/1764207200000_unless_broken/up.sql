-- unless_broken(ok, what): true, or an error when ok is false.
--
-- The counterpart of unless_raced for what no race can cause: a write that finds a rule of the
-- ledger broken (the open lots of a member, locked by the write, hold less than the points it
-- debits, where they always hold the balance) fails before its COMMIT, with data_corrupted
-- (XX001), which the functions do not retry: the request fails with 500, and loyaltyctl's
-- invariants check names the member.
CREATE FUNCTION public.unless_broken(ok boolean, what text) RETURNS boolean
    LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'ledger invariant broken: %', what
            USING ERRCODE = 'data_corrupted';
    END IF;
    RETURN true;
END;
$$;
COMMENT ON FUNCTION public.unless_broken(boolean, text) IS
    'true when ok; otherwise raises data_corrupted (XX001) naming the ledger rule that does not hold. Not retried by the functions.';
