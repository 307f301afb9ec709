-- reconciliation_target --
-- A vendor's agent (URL, outbound secret, live health); nothing when it never registered.
SELECT a.vendor_id, a.agent_url, a.outbound_secret,
       restosync_agent_health(a.last_heartbeat, a.deregistered_at,
                              %(degraded_seconds)s, %(offline_seconds)s) AS agent_health
FROM agent_registry AS a
WHERE a.vendor_id = %(vendor_id)s

-- active_reconciliation_vendors --
-- Vendors whose agent is registered and not deregistered, in id order.
SELECT vendor_id
FROM agent_registry
WHERE deregistered_at IS NULL
ORDER BY vendor_id COLLATE "C"

-- reconciliation_checksum --
-- SPEC §5.3 checksum and count of a vendor's items or stock in [range_start, range_end].
SELECT checksum, row_count
FROM restosync_reconciliation_checksum(
    %(vendor_id)s, %(entity)s, %(range_start)s::text, %(range_end)s::text
)

-- begin_reconciliation_snapshot --
-- First statement of a comparison: one snapshot of Postgres for the whole narrowing.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ

-- create_reconciliation_keys --
-- This comparison's copy of the keys (dropped at commit): ranged scans without re-joining.
CREATE TEMP TABLE reconciliation_keys (
    key text COLLATE "C" NOT NULL,
    content_hash text NOT NULL,
    last_synced_at timestamptz NOT NULL,
    item_sku text,
    erp_warehouse_id text
) ON COMMIT DROP

-- fill_reconciliation_keys --
-- The vendor's present rows of one entity (see sql/0012 for which rows are present).
INSERT INTO reconciliation_keys (key, content_hash, last_synced_at, item_sku, erp_warehouse_id)
SELECT key, content_hash, last_synced_at, NULL, NULL
FROM v_reconciliation_items
WHERE %(entity)s = 'items' AND vendor_id = %(vendor_id)s
UNION ALL
SELECT key, content_hash, last_synced_at, item_sku, erp_warehouse_id
FROM v_reconciliation_stock
WHERE %(entity)s = 'stock' AND vendor_id = %(vendor_id)s

-- index_reconciliation_keys --
-- Ranged scans of the copy by key (byte-wise).
CREATE INDEX ON reconciliation_keys (key COLLATE "C")

-- analyze_reconciliation_keys --
-- Statistics for the copy, so ranged scans use the index.
ANALYZE reconciliation_keys

-- reconciliation_split_keys --
-- Every step-th key of [range_start, range_end] (before the last): where to split it.
SELECT key
FROM (
    SELECT key, row_number() OVER (ORDER BY key COLLATE "C") AS n
    FROM reconciliation_keys
    WHERE (%(range_start)s::text IS NULL OR key >= %(range_start)s::text)
      AND (%(range_end)s::text IS NULL OR key <= %(range_end)s::text)
) AS ranked
WHERE n %% %(step)s = 0 AND n < %(total)s
ORDER BY key COLLATE "C"

-- reconciliation_bucket_checksums --
-- Checksum and count per sub-range of [range_start, range_end]; sub-range i starts at
-- lower_bounds[i] (bucket 0: before the first bound). Empty sub-ranges have no row.
SELECT width_bucket(key COLLATE "C", %(lower_bounds)s::text[]) AS bucket,
       count(*) AS row_count,
       encode(sha256(convert_to(
           string_agg(key || ':' || content_hash, '|' ORDER BY key COLLATE "C"), 'UTF8'
       )), 'hex') AS checksum
FROM reconciliation_keys
WHERE (%(range_start)s::text IS NULL OR key >= %(range_start)s::text)
  AND (%(range_end)s::text IS NULL OR key <= %(range_end)s::text)
GROUP BY 1

-- reconciliation_manifest --
-- Key (and its parts for stock), hash and sync time of the present rows of a range, in key order.
SELECT key, content_hash, last_synced_at, item_sku, erp_warehouse_id
FROM reconciliation_keys
WHERE (%(range_start)s::text IS NULL OR key >= %(range_start)s::text)
  AND (%(range_end)s::text IS NULL OR key <= %(range_end)s::text)
ORDER BY key COLLATE "C"

-- mark_items_obsolete --
-- Items reconciliation found missing in the ERP (already retired): flag them obsolete.
UPDATE items
SET is_obsolete = true
WHERE vendor_id = %(vendor_id)s
  AND sku = ANY(%(skus)s::text[])
  AND content_hash = 'deleted'
  AND NOT is_obsolete

-- record_reconciliation_event --
-- One entry of the reconciliation log.
INSERT INTO reconciliation_events (
    vendor_id, event_type, entity, summary, details, duration_ms, correlation_id
)
VALUES (
    %(vendor_id)s, %(event_type)s, %(entity)s, %(summary)s, %(details)s, %(duration_ms)s,
    %(correlation_id)s
)
RETURNING id

-- reconciliation_event_views --
-- The reconciliation log, newest first, optionally of one vendor and event type.
SELECT id, vendor_id, event_type, entity, summary, details, timestamp, duration_ms,
       correlation_id, count(*) OVER () AS total
FROM reconciliation_events
WHERE (%(vendor_id)s::text IS NULL OR vendor_id = %(vendor_id)s)
  AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s)
ORDER BY timestamp DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s
