-- Receipt numbers are trimmed of ASCII white space only, whatever the database's locale:
-- [[:space:]] follows the locale (ASCII under C, also U+3000 and others under en_US.UTF-8),
-- and the functions trim the same explicit set, so the counter and a POS agree on every
-- database. Rows already stored stay as they are.
CREATE OR REPLACE FUNCTION public.orders_trim_receipt_no() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.receipt_no := regexp_replace(NEW.receipt_no, '^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$', '', 'g');
    RETURN NEW;
END;
$$;
ALTER TABLE public.orders DROP CONSTRAINT orders_receipt_no_trimmed_check;
ALTER TABLE public.orders ADD CONSTRAINT orders_receipt_no_trimmed_check
    CHECK (receipt_no = regexp_replace(receipt_no, '^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$', '', 'g')) NOT VALID;
