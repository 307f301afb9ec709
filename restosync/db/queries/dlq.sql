-- sync_job_views --
-- Sync jobs, newest first, with optional filters (or one by id) and the total count.
SELECT id, vendor_id, operation, status, attempts, max_attempts, next_retry_at,
       error_message, erp_reference, created_at, started_at, completed_at,
       postgres_order_id AS order_id, procrastinate_job_id, correlation_id, error_stack,
       payload, count(*) OVER () AS total
FROM sync_jobs
WHERE (%(id)s::uuid IS NULL OR id = %(id)s)
  AND (%(vendor_id)s::text IS NULL OR vendor_id = %(vendor_id)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(operation)s::text IS NULL OR operation = %(operation)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- dlq_entries --
-- Dead letters, oldest first, with optional filters (or one by id) and the total count.
SELECT id, original_job_id, procrastinate_job_id, task_name, queue, vendor_id, operation,
       payload, failure_reason, failure_stack, attempt_count, last_attempt_at, resolved,
       resolved_at, resolved_by, resolution, retry_job_id, created_at,
       count(*) OVER () AS total
FROM dead_letter_queue
WHERE (%(id)s::uuid IS NULL OR id = %(id)s)
  AND (%(resolved)s::boolean IS NULL OR resolved = %(resolved)s)
  AND (%(vendor_id)s::text IS NULL OR vendor_id = %(vendor_id)s)
  AND (%(operation)s::text IS NULL OR operation = %(operation)s)
ORDER BY created_at, id
LIMIT %(limit)s OFFSET %(offset)s

-- resolve_dlq_entry --
-- Close an open dead letter without re-running it; nothing when it is not open.
UPDATE dead_letter_queue
SET resolved = true, resolved_at = now(), resolved_by = %(actor)s, resolution = 'resolved'
WHERE id = %(id)s AND NOT resolved
RETURNING id

-- retry_dead_letters --
-- Re-enqueue open dead letters (one, or all matching the filters) in this transaction (sql/0009).
SELECT entry_id, vendor_id, retry_job_id, procrastinate_job_id
FROM restosync_retry_dead_letters(
    %(actor)s::text, %(max_attempts)s::integer, %(entry_id)s::uuid, %(vendor_id)s::text,
    %(operation)s::text, %(since)s::timestamptz, %(until)s::timestamptz,
    %(correlation_id)s::text
)
