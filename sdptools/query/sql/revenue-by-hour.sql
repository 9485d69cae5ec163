-- Revenue per currency and country, per hour (UTC) of the purchases.
SELECT dt, hour, currency, country, COUNT(*) AS purchases, SUM(amount) AS revenue
FROM records
WHERE type = 'Purchase' AND dt >= :since_dt AND minute >= :since_minute
GROUP BY dt, hour, currency, country
ORDER BY dt, hour, currency, revenue DESC, country
