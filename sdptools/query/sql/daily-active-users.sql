-- Daily active users: distinct users with any record on each (UTC) day.
SELECT dt AS day, COUNT(DISTINCT user_id) AS users, COUNT(*) AS records
FROM records
WHERE dt >= :since_dt AND minute >= :since_minute
GROUP BY dt
ORDER BY dt
