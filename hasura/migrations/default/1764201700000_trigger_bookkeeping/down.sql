DROP TABLE public.notifications;
DROP TABLE public.trigger_failures;
DROP TABLE public.trigger_deliveries;
