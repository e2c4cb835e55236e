-- Example hotfix (a template; applying it to a database without this member changes nothing).
-- Why:   INC-1234: the counter's POS was down on 2026-05-31 and member 1234567897 paid without
--        earning; the receipt cannot be replayed, so 120 points are credited by hand.
-- Who:   reviewed in the pull request that added this file.
-- Where: production, with `loyaltyctl hotfix apply ... --dry-run` first.
--
-- Points move only as the functions move them: a ledger entry, its lot, and the balance, in
-- one statement, so the invariant checks that run before commit hold. (adjustPoints does the
-- same through Hasura and is the better tool when it can do the job.)
WITH m AS (
    SELECT id, points_balance FROM members
    WHERE member_code = '1234567897' AND deleted_at IS NULL
    FOR NO KEY UPDATE
), entry AS (
    INSERT INTO point_transactions (member_id, kind, points, balance_after, reason, idempotency_key)
    SELECT id, 'adjust', 120, points_balance + 120, 'INC-1234 goodwill: POS down on 2026-05-31', 'hotfix:2026-06-01-goodwill-credit'
    FROM m
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, member_id, points, created_at
), lot AS (
    INSERT INTO point_lots (member_id, transaction_id, points, remaining, earned_at, expires_at)
    SELECT e.member_id, e.id, e.points, e.points, e.created_at,
           e.created_at + (SELECT points_validity_days FROM program_settings WHERE id = 1) * interval '1 day'
    FROM entry e
)
UPDATE members SET points_balance = points_balance + e.points
FROM entry e WHERE members.id = e.member_id;
