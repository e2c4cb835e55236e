CREATE OR REPLACE FUNCTION public.orders_trim_receipt_no() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.receipt_no := regexp_replace(NEW.receipt_no, '^[[:space:]]+|[[:space:]]+$', '', 'g');
    RETURN NEW;
END;
$$;
ALTER TABLE public.orders DROP CONSTRAINT orders_receipt_no_trimmed_check;
ALTER TABLE public.orders ADD CONSTRAINT orders_receipt_no_trimmed_check
    CHECK (receipt_no = regexp_replace(receipt_no, '^[[:space:]]+|[[:space:]]+$', '', 'g')) NOT VALID;
