ALTER TABLE public.stores DROP COLUMN image_url;
