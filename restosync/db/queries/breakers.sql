-- record_breaker_states --
-- Upsert the latest state of breakers as a worker process saw them change (one row per key).
INSERT INTO circuit_breakers (vendor_id, api_type, state, failure_count, opened_at)
SELECT vendor_id, api_type, state, failure_count, opened_at
FROM unnest(%(vendor_ids)s::text[], %(api_types)s::text[], %(states)s::text[],
            %(failure_counts)s::integer[], %(opened_ats)s::timestamptz[])
     AS t (vendor_id, api_type, state, failure_count, opened_at)
ON CONFLICT (vendor_id, api_type) DO UPDATE
SET state = excluded.state, failure_count = excluded.failure_count,
    opened_at = coalesce(excluded.opened_at, circuit_breakers.opened_at)

-- breaker_views --
-- Every breaker any process reported, not closed first, then by key.
SELECT vendor_id, api_type, state, failure_count, opened_at, updated_at
FROM circuit_breakers
ORDER BY state = 'closed', vendor_id, api_type

-- reset_breakers --
-- Close a vendor's breakers (one API type or all) in the shared view.
UPDATE circuit_breakers
SET state = 'closed', failure_count = 0
WHERE vendor_id = %(vendor_id)s AND (%(api_type)s::text IS NULL OR api_type = %(api_type)s)
RETURNING vendor_id, api_type, state, failure_count, opened_at, updated_at

-- notify_breaker_reset --
-- Tell every process (LISTEN restosync_breakers) to close these breakers, at commit.
SELECT pg_notify('restosync_breakers', %(payload)s)
