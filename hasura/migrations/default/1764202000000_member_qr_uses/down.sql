DROP TABLE public.member_qr_uses;
