-- Records per type and minute (UTC): what `sdp stats` counts, from the archive.
SELECT minute, type, COUNT(*) AS records
FROM records
WHERE dt >= :since_dt AND minute >= :since_minute
GROUP BY minute, type
ORDER BY minute, type
