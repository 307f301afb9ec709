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

-- drift_events_by_entity --
-- Reconciliation runs that found drift, per entity.
SELECT coalesce(entity, 'unknown') AS entity, count(*) AS events
FROM reconciliation_events
WHERE event_type = 'drift_detected'
GROUP BY 1
