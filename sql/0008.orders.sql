-- depends: 0007.mappings
-- Orders and their push to the vendor ERP (SPEC §1, §3.2, §6): idempotent creation, dead letters written by SQL in the transaction of a push job's final state change, and the callback-timeout sweep.

-- The task name 'orders:push_order', the queue 'order-sync' and the lock format
-- 'vendor:<vendor_id>' below are those of restosync/queue.py (TASK_PUSH_ORDER,
-- QUEUE_ORDER_SYNC, vendor_lock): change them together, in a new migration.


-- orders.request_fingerprint ----------------------------------------------------

ALTER TABLE orders
    ADD COLUMN request_fingerprint text CHECK (request_fingerprint ~ '^[0-9a-f]{64}$');

COMMENT ON COLUMN orders.request_fingerprint IS
    'SHA-256 (hex) of the creating request body in canonical form. A repeated Idempotency-Key with the same fingerprint replays the order (200); with another one it is refused (409).';


-- restosync_dead_letter_sync_job ------------------------------------------------

CREATE FUNCTION restosync_dead_letter_sync_job(
    p_sync_job_id uuid,
    p_procrastinate_job_id bigint,
    p_task_name text,
    p_queue text,
    p_reason text DEFAULT NULL,
    p_stack text DEFAULT NULL
)
    RETURNS uuid
    LANGUAGE plpgsql
AS $$
DECLARE
    job sync_jobs;
    reason text;
    entry_id uuid;
BEGIN
    SELECT * INTO job FROM sync_jobs WHERE id = p_sync_job_id FOR UPDATE;
    -- Finished work is never dead-lettered, and neither is a stale queue job: the sync job
    -- names the queue job currently in charge of it.
    IF NOT FOUND
       OR job.status NOT IN ('pending', 'processing', 'awaiting_callback', 'failed')
       OR (p_procrastinate_job_id IS NOT NULL
           AND job.procrastinate_job_id IS DISTINCT FROM p_procrastinate_job_id) THEN
        RETURN NULL;
    END IF;
    reason := coalesce(p_reason, job.error_message, 'failed for good without a recorded error');

    INSERT INTO dead_letter_queue (
        original_job_id, procrastinate_job_id, task_name, queue, vendor_id, operation,
        payload, failure_reason, failure_stack, attempt_count, last_attempt_at
    )
    VALUES (
        job.id, coalesce(p_procrastinate_job_id, job.procrastinate_job_id), p_task_name, p_queue,
        job.vendor_id, job.operation, job.payload, reason, coalesce(p_stack, job.error_stack),
        job.attempts, job.started_at
    )
    ON CONFLICT ON CONSTRAINT uq_dead_letter_queue_procrastinate_job_id DO NOTHING
    RETURNING id INTO entry_id;

    UPDATE sync_jobs
    SET status = 'dead', error_message = reason, error_stack = coalesce(p_stack, error_stack),
        next_retry_at = NULL, completed_at = now()
    WHERE id = job.id;

    UPDATE orders
    SET status = 'failed', erp_sync_error = reason
    WHERE id = job.postgres_order_id AND status = 'pending';

    RETURN entry_id;
END;
$$;

COMMENT ON FUNCTION restosync_dead_letter_sync_job(uuid, bigint, text, text, text, text) IS
    'Records a sync job that failed for good: a dead_letter_queue row with its payload (one per procrastinate job, ON CONFLICT DO NOTHING), sync_jobs.status = dead, orders.status = failed. Returns the entry id, or NULL when nothing was done (unknown or finished job, or p_procrastinate_job_id is not the job in charge of it). Called by the trigger on procrastinate_jobs and by a failed agent callback, in their transactions.';


-- Dead letters of push jobs, in the transaction of their final state change ----

-- A plain AFTER UPDATE trigger: `UPDATE OF status` or a WHEN clause would make the trigger
-- depend on the column, which blocks procrastinate's own migrations from altering it.
-- It must never raise: an error here would roll back procrastinate's finish_job, leaving
-- the job in `doing` and its vendor's lane blocked. Failures become WARNINGs in the
-- server log (the job then stays failed without a DLQ row: v_dlq_open will not show it).
-- It relies on workers keeping finished jobs (restosync.queue.worker_options sets
-- delete_jobs = never): a job deleted instead of updated would fire no UPDATE trigger.
CREATE FUNCTION restosync_dead_letter_failed_push()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    -- Cheap tests first: no subtransaction for the many updates that are not final failures.
    IF NEW.task_name <> 'orders:push_order'
       OR NEW.status NOT IN ('failed', 'aborted', 'cancelled')
       OR OLD.status = NEW.status THEN
        RETURN NULL;
    END IF;
    BEGIN
        PERFORM restosync_dead_letter_sync_job(
            (NEW.args ->> 'sync_job_id')::uuid,
            NEW.id,
            NEW.task_name,
            NEW.queue_name,
            CASE WHEN NEW.status <> 'failed'
                 THEN format('push job %s in the queue before it finished', NEW.status)
            END
        );
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'restosync: could not dead-letter procrastinate job % (%: %)',
            NEW.id, SQLSTATE, SQLERRM;
    END;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION restosync_dead_letter_failed_push() IS
    'AFTER UPDATE trigger on procrastinate_jobs: when an orders:push_order job ends failed (no retry left), aborted or cancelled, dead-letters its sync job (restosync_dead_letter_sync_job) in the same transaction. Never raises (errors become WARNINGs), so a bug here cannot wedge a job in doing.';

CREATE TRIGGER trg_procrastinate_jobs_dead_letter_failed_push
    AFTER UPDATE ON procrastinate_jobs
    FOR EACH ROW
    EXECUTE FUNCTION restosync_dead_letter_failed_push();


-- Callback-timeout sweep ----------------------------------------------------------

CREATE FUNCTION restosync_requeue_callback_timeouts(
    p_task_name text DEFAULT 'orders:push_order',
    p_queue text DEFAULT 'order-sync'
)
    RETURNS TABLE (sync_job_id uuid, vendor_id text, outcome text, procrastinate_job_id bigint)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    job record;
    new_job_id bigint;
BEGIN
    FOR job IN
        SELECT j.id, j.vendor_id, j.attempts, j.max_attempts, j.correlation_id
        FROM sync_jobs AS j
        WHERE j.status = 'awaiting_callback' AND j.next_retry_at <= now()
        ORDER BY j.created_at
        FOR UPDATE SKIP LOCKED
    LOOP
        sync_job_id := job.id;
        vendor_id := job.vendor_id;
        IF job.attempts >= job.max_attempts THEN
            PERFORM restosync_dead_letter_sync_job(
                job.id, NULL, p_task_name, p_queue,
                format('no callback after %s attempts', job.attempts));
            outcome := 'dead';
            procrastinate_job_id := NULL;
        ELSE
            -- procrastinate's own defer function: the NOTIFY wakes a worker at commit.
            new_job_id := (procrastinate_defer_jobs_v1(ARRAY[ROW(
                p_queue, p_task_name, 0, 'vendor:' || job.vendor_id, NULL,
                jsonb_build_object('sync_job_id', job.id, 'correlation_id', job.correlation_id),
                NULL
            )::procrastinate_job_to_defer_v1]))[1];
            UPDATE sync_jobs AS s
            SET status = 'pending', procrastinate_job_id = new_job_id, next_retry_at = NULL,
                error_message = 'no callback within the timeout: pushing again'
            WHERE s.id = job.id;
            outcome := 'requeued';
            procrastinate_job_id := new_job_id;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION restosync_requeue_callback_timeouts(text, text) IS
    'Callback-timeout sweep (every minute, maintenance:requeue_callback_timeouts): every sync job awaiting a callback past its deadline (next_retry_at) is pushed again with the same idempotency key (a new order-sync job in its vendor''s lane), or dead-lettered when its attempts are used up. Returns what it did per job. A DBA may run it by hand: SELECT * FROM restosync_requeue_callback_timeouts().';
