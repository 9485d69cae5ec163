-- Device and browser mix: records and users per device type and browser family.
SELECT device_type, browser_family, COUNT(*) AS records, COUNT(DISTINCT user_id) AS users
FROM records
WHERE dt >= :since_dt AND minute >= :since_minute
GROUP BY device_type, browser_family
ORDER BY records DESC, device_type, browser_family
