-- A store's picture for the apps, uploaded by `loyaltyctl images upload --kind stores` like the
-- rewards' image_url.
ALTER TABLE public.stores ADD COLUMN image_url text;
