-- ingest_rows_by_entity_and_status --
-- Rows received through ingest since the batches were kept, per entity and outcome.
SELECT entity,
       coalesce(sum(processed_count), 0)::bigint AS processed,
       coalesce(sum(skipped_count), 0)::bigint AS skipped,
       coalesce(sum(failed_count), 0)::bigint AS failed
FROM ingest_batches
GROUP BY entity

-- sync_jobs_by_operation_and_status --
-- Outbound jobs per operation and status (DBA view v_sync_job_overview has more).
SELECT operation, status, count(*) AS jobs
FROM sync_jobs
GROUP BY operation, status

-- open_dead_letters_by_vendor --
-- Unresolved dead-letter entries per vendor.
SELECT vendor_id, count(*) AS entries
FROM dead_letter_queue
WHERE NOT resolved
GROUP BY vendor_id

-- breaker_states --
-- Every known circuit breaker and its shared state.
SELECT vendor_id, api_type, state
FROM circuit_breakers

-- agents_by_live_health --
-- Registered agents counted by the health derived from their last heartbeat now.
SELECT restosync_agent_health(last_heartbeat, deregistered_at,
                              %(degraded_seconds)s, %(offline_seconds)s) AS status,
       count(*) AS agents
FROM agent_registry
GROUP BY 1

-- drift_events_by_vendor_and_entity --
-- Reconciliation runs that found drift (kept events: 30 days), per vendor and entity.
SELECT vendor_id, coalesce(entity, 'unknown') AS entity, count(*) AS events
FROM reconciliation_events
WHERE event_type = 'drift_detected'
GROUP BY 1, 2

-- --- Admin metrics of one vendor (issue 6) -------------------------------------------

-- vendor_sync_job_metrics --
-- One row: the vendor's sync jobs created in the window by status, rates and latencies (ms).
WITH window_start AS (
    SELECT now() - make_interval(hours => %(window_hours)s) AS since
)
SELECT w.since,
       count(j.id) AS total,
       count(j.id) FILTER (WHERE j.status = 'pending') AS pending,
       count(j.id) FILTER (WHERE j.status = 'processing') AS processing,
       count(j.id) FILTER (WHERE j.status = 'awaiting_callback') AS awaiting_callback,
       count(j.id) FILTER (WHERE j.status = 'completed') AS completed,
       count(j.id) FILTER (WHERE j.status IN ('failed', 'dead')) AS failed,
       count(j.id) FILTER (WHERE j.status = 'dead') AS dead,
       count(j.id) FILTER (WHERE j.attempts > 1) AS retried,
       (avg(extract(epoch FROM j.completed_at - j.created_at) * 1000)
            FILTER (WHERE j.status = 'completed'))::float8 AS average_latency_ms,
       percentile_cont(0.95) WITHIN GROUP (
            ORDER BY extract(epoch FROM j.completed_at - j.created_at) * 1000
       ) FILTER (WHERE j.status = 'completed') AS p95_latency_ms
FROM window_start AS w
LEFT JOIN sync_jobs AS j
       ON j.vendor_id = %(vendor_id)s AND j.created_at >= w.since
GROUP BY w.since

-- vendor_reconciliation_metrics --
-- One row: the vendor's reconciliation events in the window, counted by what they mean.
-- A run of one entity ends with full_checksum, drift_resolved or error; drift_detected
-- comes before drift_resolved (or error) in a run that found drift.
WITH window_start AS (
    SELECT now() - make_interval(hours => %(window_hours)s) AS since
)
SELECT w.since,
       count(r.id) FILTER (
           WHERE r.event_type IN ('full_checksum', 'drift_resolved', 'error')
       ) AS runs,
       count(r.id) FILTER (WHERE r.event_type = 'drift_detected') AS runs_with_drift,
       count(r.id) FILTER (WHERE r.event_type = 'drift_resolved') AS drift_resolved,
       count(r.id) FILTER (WHERE r.event_type = 'error') AS errors
FROM window_start AS w
LEFT JOIN reconciliation_events AS r
       ON r.vendor_id = %(vendor_id)s AND r.timestamp >= w.since
GROUP BY w.since

-- vendor_last_reconciliation_event --
-- The vendor's newest reconciliation event (any type, any age still kept), if any.
SELECT timestamp, event_type, entity, duration_ms
FROM reconciliation_events
WHERE vendor_id = %(vendor_id)s
ORDER BY timestamp DESC, id DESC
LIMIT 1

-- --- end of admin metrics -----------------------------------------------------------
