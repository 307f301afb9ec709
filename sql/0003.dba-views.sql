-- depends: 0002.core-tables
-- DBA convenience views (SPEC §2): sync jobs per vendor/status, open DLQ, live agent health, procrastinate queue depth.

-- Views compute "now" at read time (now() = start of the reading transaction), so
-- they are never stale. They expose no secrets (no token hashes, no outbound
-- secrets, no payloads or customer PII), so read access to them can be granted to
-- people who must not read the underlying tables.


-- v_sync_job_overview ---------------------------------------------------------

CREATE VIEW v_sync_job_overview AS
SELECT
    j.vendor_id,
    j.status,
    count(*) AS job_count,
    min(j.created_at) AS oldest_created_at,
    max(j.created_at) AS newest_created_at,
    now() - min(j.created_at) AS oldest_age,
    min(j.next_retry_at) AS next_retry_at
FROM sync_jobs AS j
GROUP BY j.vendor_id, j.status;

COMMENT ON VIEW v_sync_job_overview IS
    'sync_jobs per vendor and status: how many, oldest/newest created_at, age of the oldest, earliest planned retry. Filter on vendor_id or status; the filter is applied before grouping (ix_sync_jobs_vendor_id_status_created_at).';
COMMENT ON COLUMN v_sync_job_overview.status IS
    'sync_jobs.status: pending, processing, awaiting_callback, completed, failed, dead.';
COMMENT ON COLUMN v_sync_job_overview.oldest_age IS 'now() - oldest_created_at.';
COMMENT ON COLUMN v_sync_job_overview.next_retry_at IS 'Earliest sync_jobs.next_retry_at in the group (NULL when no retry is planned).';


-- v_dlq_open ------------------------------------------------------------------

CREATE VIEW v_dlq_open AS
SELECT
    d.id,
    d.vendor_id,
    d.operation,
    d.task_name,
    d.queue,
    d.original_job_id,
    d.procrastinate_job_id,
    j.postgres_order_id AS order_id,
    o.order_number,
    d.failure_reason,
    d.attempt_count,
    d.last_attempt_at,
    d.created_at,
    now() - d.created_at AS age
FROM dead_letter_queue AS d
LEFT JOIN sync_jobs AS j ON j.id = d.original_job_id
LEFT JOIN orders AS o ON o.id = j.postgres_order_id
WHERE NOT d.resolved;

COMMENT ON VIEW v_dlq_open IS
    'Unresolved dead_letter_queue entries (resolved = false) with their age and, for order work, the order id and number. Payload and stack trace are left out: read them from dead_letter_queue by id. Retry or resolve through POST /api/admin/dlq/{id}/retry|resolve (audited), not by UPDATE.';
COMMENT ON COLUMN v_dlq_open.order_id IS 'orders.id the failed sync job pushed (NULL for work without an order).';
COMMENT ON COLUMN v_dlq_open.age IS 'now() - created_at: how long the entry has been waiting for an admin.';


-- v_agent_health --------------------------------------------------------------

CREATE VIEW v_agent_health AS
SELECT
    a.vendor_id,
    CASE
        WHEN a.status = 'deregistered' OR a.deregistered_at IS NOT NULL THEN 'deregistered'
        WHEN now() - a.last_heartbeat > interval '300 seconds' THEN 'offline'
        WHEN now() - a.last_heartbeat > interval '60 seconds' THEN 'degraded'
        ELSE 'online'
    END AS status,
    a.status AS persisted_status,
    a.last_heartbeat,
    EXTRACT(EPOCH FROM now() - a.last_heartbeat) AS seconds_since_heartbeat,
    a.erp_type,
    a.agent_url,
    a.version,
    a.deregistered_at,
    a.created_at AS registered_at
FROM agent_registry AS a;

COMMENT ON VIEW v_agent_health IS
    'One row per agent with its live health derived from last_heartbeat at read time: online, degraded (> 60 s without heartbeat), offline (> 300 s), deregistered. Thresholds are the SPEC §8 defaults of HEARTBEAT_DEGRADED_SECONDS / HEARTBEAT_OFFLINE_SECONDS; a deployment that changes them should replace this view in a migration. Never shows token hashes or outbound secrets.';
COMMENT ON COLUMN v_agent_health.status IS
    'Live status: deregistered, else offline after 300 s without heartbeat, degraded after 60 s, else online.';
COMMENT ON COLUMN v_agent_health.persisted_status IS
    'agent_registry.status as last written by the agent-health task; differs from status until the next run (at most a minute).';
COMMENT ON COLUMN v_agent_health.seconds_since_heartbeat IS 'Seconds (numeric, fractional) since last_heartbeat.';


-- v_queue_depth ---------------------------------------------------------------

-- procrastinate_jobs has no creation time: a job's creation is its first
-- 'deferred' event (inserted by procrastinate's own trigger). The lateral lookup
-- uses procrastinate_events_job_id_fkey_v1 and runs only for the jobs left after
-- any filter on queue_name/status, which is pushed below the grouping.
CREATE VIEW v_queue_depth AS
SELECT
    j.queue_name,
    j.status,
    count(*) AS job_count,
    min(d.deferred_at) AS oldest_deferred_at,
    now() - min(d.deferred_at) AS oldest_age,
    min(j.scheduled_at) AS earliest_scheduled_at,
    count(*) FILTER (
        WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
    ) AS due_count,
    now() - min(GREATEST(d.deferred_at, j.scheduled_at)) FILTER (
        WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
    ) AS oldest_due_age
FROM procrastinate_jobs AS j
LEFT JOIN LATERAL (
    SELECT min(e.at) AS deferred_at
    FROM procrastinate_events AS e
    WHERE e.job_id = j.id
      AND e.type = 'deferred'
) AS d ON true
GROUP BY j.queue_name, j.status;

COMMENT ON VIEW v_queue_depth IS
    'procrastinate_jobs per queue_name and status (todo, doing, succeeded, failed, cancelled, aborted): count, age of the oldest job (from its first deferred event), and for todo the jobs due now and how long the oldest due job has waited. Filter on status IN (''todo'', ''doing'') for the live backlog.';
COMMENT ON COLUMN v_queue_depth.oldest_deferred_at IS
    'Earliest creation time in the group (first procrastinate_events row of type deferred per job).';
COMMENT ON COLUMN v_queue_depth.oldest_age IS 'now() - oldest_deferred_at.';
COMMENT ON COLUMN v_queue_depth.earliest_scheduled_at IS
    'Earliest scheduled_at in the group (set for delayed jobs and retries; NULL = run as soon as possible).';
COMMENT ON COLUMN v_queue_depth.due_count IS
    'todo jobs that may run now (scheduled_at NULL or past); 0 for other statuses. A growing due_count means workers are not keeping up.';
COMMENT ON COLUMN v_queue_depth.oldest_due_age IS
    'How long the oldest due todo job has been runnable (since the later of its deferral and its scheduled_at); NULL when none is due.';
