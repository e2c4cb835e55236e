ALTER TABLE public.members RESET (fillfactor);
