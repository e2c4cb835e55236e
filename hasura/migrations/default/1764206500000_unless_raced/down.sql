DROP FUNCTION public.unless_raced(boolean, text);
