-- The `records` view: one row per stored record, over two tables with the archive's
-- columns (services/compact/src/compact_service/columns.py) and the partition keys dt,
-- hour: records_parquet (the compacted hours, compacted/dt=/hour=/records.parquet) and
-- records_ndjson (the store's gzip NDJSON, records/dt=/hour=/*.ndjson.gz). An hour
-- with a Parquet copy is read from it; any other hour from its NDJSON, each record once
-- (the compaction keeps a record archived twice once, in the same way).
--
-- ONE text for both engines: DuckDB runs it here (sdptools/query/engine.py) and the
-- platform stack's Glue view `records` is generated from it (sdptools/query/catalog.py).
-- Keep to what DuckDB and Athena (Trino) both take: CTEs, UNION ALL, LEFT JOIN, window
-- functions, struct fields by dot; no QUALIFY, no `SELECT * EXCLUDE`, no :: casts.
WITH compacted_hours AS (
    SELECT DISTINCT dt, hour FROM records_parquet
),
open_records AS (
    SELECT n.*, row_number() OVER (
        PARTITION BY n.dt, n.hour, n.id ORDER BY n.received_at, n.occurred_at
    ) AS copy_no
    FROM records_ndjson n
    LEFT JOIN compacted_hours c ON n.dt = c.dt AND n.hour = c.hour
    WHERE c.dt IS NULL
),
stored AS (
    SELECT p.*, 1 AS copy_no FROM records_parquet p
    UNION ALL
    SELECT * FROM open_records
)
SELECT
    id,
    type,
    version,
    occurred_at,
    user_id,
    session_id,
    user_agent,
    ip,
    received_at,
    source,
    url,
    referrer,
    title,
    duration_ms,
    scroll_depth,
    element_id,
    element_text,
    order_id,
    amount,
    currency,
    items,
    method,
    plan,
    enrichment.device.type AS device_type,
    enrichment.device.family AS device_family,
    enrichment.device.brand AS device_brand,
    enrichment.device.model AS device_model,
    enrichment.browser.family AS browser_family,
    enrichment.browser.version AS browser_version,
    enrichment.os.family AS os_family,
    enrichment.os.version AS os_version,
    enrichment.country AS country,
    enrichment.segment AS segment,
    enrichment.partitions.minute AS minute,
    dt,
    hour
FROM stored
WHERE copy_no = 1
