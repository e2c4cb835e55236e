DROP TABLE public.refund_requests;
