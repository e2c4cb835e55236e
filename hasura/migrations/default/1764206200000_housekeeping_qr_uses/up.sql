-- housekeeping prunes member_qr_uses older than 30 days, oldest first: one row per QR earn,
-- so without an index each batch would scan the table.
CREATE INDEX member_qr_uses_used_at_idx ON public.member_qr_uses (used_at);
