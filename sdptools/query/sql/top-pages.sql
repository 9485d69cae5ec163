-- Pages by views: the most viewed URLs, with how many users viewed each.
SELECT url, COUNT(*) AS views, COUNT(DISTINCT user_id) AS users
FROM records
WHERE type = 'PageView' AND dt >= :since_dt AND minute >= :since_minute
GROUP BY url
ORDER BY views DESC, url
LIMIT 50
