DROP FUNCTION public.unless_broken(boolean, text);
