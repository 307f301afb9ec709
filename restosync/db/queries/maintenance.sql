-- cleanup_sync_jobs --
-- Retention of sync_jobs and their finished queue jobs (SQL function of sql/0013); one row of counts.
SELECT sync_jobs_deleted, queue_jobs_deleted
FROM restosync_cleanup_sync_jobs(
    make_interval(secs => %(completed_seconds)s), make_interval(secs => %(failed_seconds)s)
)

-- prune_finished_queue_jobs --
-- Finished procrastinate jobs of the given queues idle for longer than the retention; how many.
SELECT restosync_prune_finished_queue_jobs(
    make_interval(secs => %(older_than_seconds)s), %(queues)s::text[]
) AS deleted

-- cleanup_reconciliation_events --
-- Reconciliation events older than the retention; how many were deleted.
SELECT restosync_cleanup_reconciliation_events(make_interval(secs => %(older_than_seconds)s)) AS deleted

-- cleanup_resolved_dlq --
-- Dead letters resolved longer ago than the retention; how many were deleted.
SELECT restosync_cleanup_resolved_dlq(make_interval(secs => %(older_than_seconds)s)) AS deleted

-- open_dead_letters --
-- Unresolved dead letters per vendor: count and oldest creation time.
SELECT vendor_id, open_entries, oldest_created_at
FROM restosync_open_dead_letters()
