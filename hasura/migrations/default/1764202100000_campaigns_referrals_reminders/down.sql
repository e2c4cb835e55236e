DROP INDEX public.notifications_member_unread_idx;
DELETE FROM public.notifications WHERE kind IN ('points_expiring', 'coupon_expiring');
ALTER TABLE public.notifications
    DROP CONSTRAINT notifications_kind_check,
    ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('earn', 'bonus', 'redeem', 'expire', 'adjust', 'refund', 'tier_up', 'tier_down')),
    DROP COLUMN read_at,
    DROP COLUMN data;
ALTER TABLE public.program_settings
    DROP COLUMN expiry_reminder_days,
    DROP COLUMN referral_yearly_limit,
    DROP COLUMN referral_min_amount,
    DROP COLUMN referee_bonus_points,
    DROP COLUMN referral_bonus_points;
ALTER TABLE public.members
    DROP COLUMN referral_order_id,
    DROP COLUMN referred_by,
    DROP COLUMN referral_code;
DROP FUNCTION public.new_referral_code();
ALTER TABLE public.point_transactions DROP COLUMN campaign_ids;
DROP TABLE public.campaigns;
