-- insert_sync_job --
-- The sync job of a new order, naming the queue job that will push it.
INSERT INTO sync_jobs (
    id, vendor_id, operation, postgres_order_id, status, payload, attempts, max_attempts,
    procrastinate_job_id, correlation_id
)
VALUES (
    %(id)s, %(vendor_id)s, %(operation)s, %(order_id)s, 'pending', %(payload)s, 0,
    %(max_attempts)s, %(procrastinate_job_id)s, %(correlation_id)s
)

-- push_target --
-- A sync job with its vendor's agent (URL, secret, live health) and the database clock.
SELECT j.id, j.vendor_id, j.status, j.payload, j.attempts, j.max_attempts, j.created_at,
       j.procrastinate_job_id, j.correlation_id, j.error_message,
       a.agent_url, a.outbound_secret,
       CASE WHEN a.vendor_id IS NULL THEN 'unregistered'
            ELSE restosync_agent_health(a.last_heartbeat, a.deregistered_at,
                                        %(degraded_seconds)s, %(offline_seconds)s)
       END AS agent_health,
       now() AS db_now
FROM sync_jobs AS j
LEFT JOIN agent_registry AS a ON a.vendor_id = j.vendor_id
WHERE j.id = %(id)s

-- start_push_attempt --
-- Count an attempt before calling the agent; nothing when the job is no longer pushable.
UPDATE sync_jobs
SET status = 'processing', attempts = attempts + 1, started_at = now(), next_retry_at = NULL
WHERE id = %(id)s AND status IN ('pending', 'processing')
RETURNING attempts

-- complete_sync_job --
-- The ERP has the order: job completed, order synced; nothing when the job was not live.
WITH job AS (
    UPDATE sync_jobs
    SET status = 'completed', erp_reference = %(erp_reference)s, completed_at = now(),
        next_retry_at = NULL, error_message = NULL, error_stack = NULL
    WHERE id = %(id)s AND status IN ('pending', 'processing', 'awaiting_callback')
    RETURNING id, postgres_order_id
), synced AS (
    UPDATE orders AS o
    SET status = 'synced', erp_reference = %(erp_reference)s, erp_status = %(erp_status)s,
        erp_synced_at = now(), erp_sync_error = NULL
    FROM job
    WHERE o.id = job.postgres_order_id
    RETURNING o.id
)
SELECT job.id FROM job

-- await_callback --
-- The agent answered 202: wait for its callback until the deadline (the sweep retries after).
UPDATE sync_jobs
SET status = 'awaiting_callback',
    next_retry_at = now() + make_interval(secs => %(callback_timeout_seconds)s)
WHERE id = %(id)s AND status = 'processing'
RETURNING next_retry_at

-- schedule_push_retry --
-- A transient failure: back to pending until the retry; returns when it is due.
WITH job AS (
    UPDATE sync_jobs
    SET status = 'pending', error_message = %(error_message)s, error_stack = %(error_stack)s,
        next_retry_at = now() + make_interval(secs => %(delay_seconds)s)
    WHERE id = %(id)s AND status = 'processing'
    RETURNING postgres_order_id, next_retry_at
), noted AS (
    UPDATE orders AS o
    SET erp_sync_error = %(error_message)s
    FROM job
    WHERE o.id = job.postgres_order_id
    RETURNING o.id
)
SELECT next_retry_at FROM job

-- postpone_push --
-- The agent is offline: wait without using an attempt, never past the job's maximum age.
UPDATE sync_jobs
SET status = 'pending', error_message = %(error_message)s,
    next_retry_at = least(now() + make_interval(secs => %(delay_seconds)s),
                          created_at + make_interval(secs => %(max_age_seconds)s))
WHERE id = %(id)s AND status IN ('pending', 'processing')
RETURNING next_retry_at

-- fail_sync_job --
-- A permanent failure, recorded before the queue job fails for good (which dead-letters it).
WITH job AS (
    UPDATE sync_jobs
    SET status = 'failed', error_message = %(error_message)s, error_stack = %(error_stack)s,
        next_retry_at = NULL
    WHERE id = %(id)s AND status IN ('pending', 'processing', 'awaiting_callback')
    RETURNING id, postgres_order_id
), noted AS (
    UPDATE orders AS o
    SET erp_sync_error = %(error_message)s
    FROM job
    WHERE o.id = job.postgres_order_id
    RETURNING o.id
)
SELECT job.id FROM job

-- dead_letter_sync_job --
-- Dead-letter a live sync job now (SQL function of sql/0008); the DLQ entry id or NULL.
SELECT restosync_dead_letter_sync_job(
    %(id)s, NULL, %(task_name)s, %(queue)s, %(reason)s, %(stack)s
) AS entry_id

-- callback_target --
-- What a callback needs of a sync job: whose it is and where it stands (row locked).
SELECT id, vendor_id, status, erp_reference
FROM sync_jobs
WHERE id = %(id)s
FOR UPDATE

-- sync_job_owner --
-- The vendor of a sync job, to authenticate its callback.
SELECT vendor_id FROM sync_jobs WHERE id = %(id)s

-- requeue_callback_timeouts --
-- The callback-timeout sweep (SQL function of sql/0008): what it did per sync job.
SELECT sync_job_id, vendor_id, outcome, procrastinate_job_id
FROM restosync_requeue_callback_timeouts(%(task_name)s, %(queue)s)
