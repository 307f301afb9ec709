-- depends: 0010.mappings-truncate
-- Periodic maintenance (SPEC §6): retention of sync_jobs, finished queue jobs, reconciliation events and resolved dead letters, and the open-DLQ count behind the dlq_entries_found alert.

-- Every function here is set-based, runs in the caller's transaction, takes its
-- retention as an interval parameter (defaults: the SPEC §6 numbers) and returns how
-- many rows it removed. The maintenance tasks of restosync/worker/tasks.py call them
-- with the RETENTION_* settings; a DBA may run any of them by hand, e.g.
--   SELECT * FROM restosync_cleanup_sync_jobs();
--   SELECT restosync_cleanup_reconciliation_events(interval '90 days');
-- What is never deleted: a sync job that is live (processing, awaiting_callback, or with
-- a procrastinate job still todo/doing) or that a dead_letter_queue row points to
-- (original_job_id or retry_job_id, both ON DELETE RESTRICT); an unresolved dead letter;
-- a procrastinate job that is not finished.


-- restosync_cleanup_sync_jobs ------------------------------------------------------

CREATE FUNCTION restosync_cleanup_sync_jobs(
    p_completed_older_than interval DEFAULT interval '24 hours',
    p_failed_older_than interval DEFAULT interval '7 days'
)
    RETURNS TABLE (sync_jobs_deleted bigint, queue_jobs_deleted bigint)
    LANGUAGE plpgsql
AS $$
DECLARE
    deleted_ids text[];
BEGIN
    WITH live AS MATERIALIZED (
        -- Queue jobs still to run: a sync job with one is live, whichever job it names.
        SELECT q.id, q.args ->> 'sync_job_id' AS sync_job_id
        FROM procrastinate_jobs AS q
        WHERE q.status IN ('todo', 'doing')
    ), doomed AS (
        SELECT s.id
        FROM sync_jobs AS s
        WHERE (
                (s.status = 'completed'
                 AND coalesce(s.completed_at, s.created_at) < now() - p_completed_older_than)
                OR (s.status IN ('failed', 'dead')
                    AND coalesce(s.completed_at, s.created_at) < now() - p_failed_older_than)
                -- pending: age from creation (a pending job has no completed_at).
                OR (s.status = 'pending' AND s.created_at < now() - p_failed_older_than)
              )
          AND (s.expires_at IS NULL OR s.expires_at <= now())
          AND NOT EXISTS (SELECT 1 FROM dead_letter_queue AS d WHERE d.original_job_id = s.id)
          AND NOT EXISTS (SELECT 1 FROM dead_letter_queue AS d WHERE d.retry_job_id = s.id)
          AND NOT EXISTS (SELECT 1 FROM live WHERE live.id = s.procrastinate_job_id)
          AND NOT EXISTS (SELECT 1 FROM live WHERE live.sync_job_id = s.id::text)
        -- A row being dead-lettered or called back right now is skipped until tomorrow.
        FOR UPDATE OF s SKIP LOCKED
    ), deleted AS (
        DELETE FROM sync_jobs AS s
        USING doomed
        WHERE s.id = doomed.id
        RETURNING s.id
    )
    SELECT coalesce(array_agg(deleted.id::text), '{}') INTO deleted_ids FROM deleted;

    sync_jobs_deleted := cardinality(deleted_ids);
    -- Their finished queue jobs go with them (their procrastinate_events cascade).
    DELETE FROM procrastinate_jobs AS q
    WHERE q.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
      AND q.args ->> 'sync_job_id' = ANY (deleted_ids);
    GET DIAGNOSTICS queue_jobs_deleted = ROW_COUNT;
    RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION restosync_cleanup_sync_jobs(interval, interval) IS
    'Retention of sync_jobs (daily 02:00, maintenance:cleanup_sync_jobs): deletes completed jobs finished more than p_completed_older_than ago (24 h), failed/dead jobs finished and pending jobs created more than p_failed_older_than ago (7 days), with the finished procrastinate jobs (and their events) that ran them. Never deletes a live job (processing, awaiting_callback, or with a procrastinate job still todo/doing), a job a dead_letter_queue row points to (original_job_id or retry_job_id), a job held by expires_at in the future, or a row locked by another transaction. Returns the counts: SELECT * FROM restosync_cleanup_sync_jobs();';

COMMENT ON COLUMN sync_jobs.expires_at IS
    'Optional hold: when set in the future, restosync_cleanup_sync_jobs keeps the row until then even if its status and age make it eligible (e.g. a DBA keeping evidence). NULL = retention by status alone (completed 24 h after completed_at; failed/dead 7 days after completed_at; pending 7 days after created_at). Live jobs and jobs a dead_letter_queue row references are never deleted.';


-- restosync_prune_finished_queue_jobs ----------------------------------------------

-- procrastinate_jobs has no timestamp: a job's last activity is its newest
-- procrastinate_events row (events are indexed by job_id). Workers keep finished jobs
-- (restosync.queue.worker_options: delete_jobs = never), so without this every periodic
-- tick would leave a row forever (one per task per minute on the maintenance queue).
-- A finished job without any event counts as idle. Jobs of the order-sync queue are not
-- pruned here: they go with their sync_jobs rows.
CREATE FUNCTION restosync_prune_finished_queue_jobs(
    p_older_than interval DEFAULT interval '1 day',
    p_queues text[] DEFAULT ARRAY['maintenance', 'reconciliation']
)
    RETURNS bigint
    LANGUAGE sql
AS $$
    WITH deleted AS (
        DELETE FROM procrastinate_jobs AS q
        WHERE q.queue_name = ANY (p_queues)
          AND q.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
          AND NOT EXISTS (
              SELECT 1 FROM procrastinate_events AS e
              WHERE e.job_id = q.id AND e.at >= now() - p_older_than
          )
        RETURNING 1
    )
    SELECT count(*) FROM deleted;
$$;

COMMENT ON FUNCTION restosync_prune_finished_queue_jobs(interval, text[]) IS
    'Deletes the finished procrastinate jobs (succeeded, failed, cancelled, aborted) of the given queues (default maintenance and reconciliation) whose last event is older than p_older_than (1 day), with their events; run daily with the sync_jobs cleanup. todo/doing jobs are never touched; order-sync jobs are pruned with their sync_jobs rows by restosync_cleanup_sync_jobs. Returns how many: SELECT restosync_prune_finished_queue_jobs();';


-- restosync_cleanup_reconciliation_events ------------------------------------------

CREATE FUNCTION restosync_cleanup_reconciliation_events(
    p_older_than interval DEFAULT interval '30 days'
)
    RETURNS bigint
    LANGUAGE sql
AS $$
    WITH deleted AS (
        DELETE FROM reconciliation_events AS r
        WHERE r.timestamp < now() - p_older_than
        RETURNING 1
    )
    SELECT count(*) FROM deleted;
$$;

COMMENT ON FUNCTION restosync_cleanup_reconciliation_events(interval) IS
    'Retention of reconciliation_events (Sunday 03:00, maintenance:cleanup_reconciliation_events): deletes the events recorded more than p_older_than ago (30 days). Returns how many: SELECT restosync_cleanup_reconciliation_events();';


-- restosync_cleanup_resolved_dlq ----------------------------------------------------

CREATE FUNCTION restosync_cleanup_resolved_dlq(
    p_older_than interval DEFAULT interval '30 days'
)
    RETURNS bigint
    LANGUAGE sql
AS $$
    WITH deleted AS (
        DELETE FROM dead_letter_queue AS d
        WHERE d.resolved AND d.resolved_at < now() - p_older_than
        RETURNING 1
    )
    SELECT count(*) FROM deleted;
$$;

COMMENT ON FUNCTION restosync_cleanup_resolved_dlq(interval) IS
    'Retention of dead_letter_queue (Saturday 04:00, maintenance:cleanup_resolved_dlq): deletes entries resolved or retried more than p_older_than ago (30 days). Unresolved entries are kept forever. The sync_jobs they pointed to become eligible for the next sync_jobs cleanup. Returns how many: SELECT restosync_cleanup_resolved_dlq();';


-- restosync_open_dead_letters ------------------------------------------------------

CREATE FUNCTION restosync_open_dead_letters()
    RETURNS TABLE (vendor_id text, open_entries bigint, oldest_created_at timestamptz)
    LANGUAGE sql
    STABLE
AS $$
    SELECT d.vendor_id, count(*), min(d.created_at)
    FROM dead_letter_queue AS d
    WHERE NOT d.resolved
    GROUP BY d.vendor_id
    ORDER BY d.vendor_id;
$$;

COMMENT ON FUNCTION restosync_open_dead_letters() IS
    'Unresolved dead letters per vendor: how many and the oldest creation time (every 15 min, maintenance:dlq_alert raises dlq_entries_found per vendor listed). SELECT * FROM restosync_open_dead_letters();';
