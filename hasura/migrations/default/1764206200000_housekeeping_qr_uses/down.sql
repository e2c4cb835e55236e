DROP INDEX public.member_qr_uses_used_at_idx;
