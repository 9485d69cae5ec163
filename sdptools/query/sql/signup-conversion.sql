-- Sign-up -> purchase conversion: users who signed up, and how many of them purchased
-- in the minute of their first sign-up or later.
WITH signups AS (
    SELECT user_id, MIN(minute) AS first_signup
    FROM records
    WHERE type = 'SignUp' AND dt >= :since_dt AND minute >= :since_minute
    GROUP BY user_id
),
buyers AS (
    SELECT DISTINCT s.user_id
    FROM signups s
    JOIN records r ON r.user_id = s.user_id
    WHERE r.type = 'Purchase' AND r.dt >= :since_dt AND r.minute >= s.first_signup
)
SELECT
    COUNT(*) AS signed_up,
    COUNT(b.user_id) AS purchased_after,
    ROUND(100.0 * COUNT(b.user_id) / NULLIF(COUNT(*), 0), 2) AS conversion_pct
FROM signups s
LEFT JOIN buyers b ON b.user_id = s.user_id
