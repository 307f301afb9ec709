-- depends: 0008.orders
-- Retrying dead letters (SPEC §3.3, §6): a new sync job and push job with the original payload, in the transaction that marks the entry retried; at most once per entry.

-- restosync_retry_dead_letters ----------------------------------------------------

-- One function serves the single retry (p_entry_id) and the bulk retry (filters):
-- entries are locked (FOR UPDATE SKIP LOCKED: a concurrent retry of the same entry skips
-- it, never doubles it), the entry is claimed by a conditional UPDATE (NOT
-- resolved) before anything is created, and retry_job_id is unique: one entry, one retry.
CREATE FUNCTION restosync_retry_dead_letters(
    p_actor text,
    p_max_attempts integer,
    p_entry_id uuid DEFAULT NULL,
    p_vendor_id text DEFAULT NULL,
    p_operation text DEFAULT NULL,
    p_since timestamptz DEFAULT NULL,
    p_until timestamptz DEFAULT NULL,
    p_correlation_id text DEFAULT NULL
)
    RETURNS TABLE (entry_id uuid, vendor_id text, retry_job_id uuid, procrastinate_job_id bigint)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    entry record;
    new_sync_job_id uuid;
    new_job_id bigint;
    order_id uuid;
BEGIN
    FOR entry IN
        SELECT d.id, d.vendor_id, d.operation, d.payload, d.task_name, d.queue,
               d.original_job_id
        FROM dead_letter_queue AS d
        WHERE NOT d.resolved
          AND (p_entry_id IS NULL OR d.id = p_entry_id)
          AND (p_vendor_id IS NULL OR d.vendor_id = p_vendor_id)
          AND (p_operation IS NULL OR d.operation = p_operation)
          AND (p_since IS NULL OR d.created_at >= p_since)
          AND (p_until IS NULL OR d.created_at < p_until)
        ORDER BY d.created_at, d.id
        FOR UPDATE SKIP LOCKED
    LOOP
        -- Claim the entry first: only an entry still open is retried, whatever the lock did.
        UPDATE dead_letter_queue AS d
        SET resolved = true, resolved_at = now(), resolved_by = p_actor, resolution = 'retried'
        WHERE d.id = entry.id AND NOT d.resolved;
        IF NOT FOUND THEN
            CONTINUE;
        END IF;
        new_sync_job_id := gen_random_uuid();
        SELECT s.postgres_order_id INTO order_id FROM sync_jobs AS s WHERE s.id = entry.original_job_id;
        -- procrastinate's own defer function (its NOTIFY wakes a worker at commit), in the
        -- vendor's lane like every push.
        new_job_id := (procrastinate_defer_jobs_v1(ARRAY[ROW(
            entry.queue, entry.task_name, 0, 'vendor:' || entry.vendor_id, NULL,
            jsonb_build_object('sync_job_id', new_sync_job_id, 'correlation_id', p_correlation_id),
            NULL
        )::procrastinate_job_to_defer_v1]))[1];
        INSERT INTO sync_jobs (
            id, vendor_id, operation, postgres_order_id, status, payload, attempts,
            max_attempts, procrastinate_job_id, correlation_id
        )
        VALUES (
            new_sync_job_id, entry.vendor_id, entry.operation, order_id, 'pending',
            -- The payload names its sync job (the Idempotency-Key): the new one.
            CASE WHEN entry.payload ? 'syncJobId'
                 THEN jsonb_set(entry.payload, '{syncJobId}', to_jsonb(new_sync_job_id::text))
                 ELSE entry.payload
            END,
            0, p_max_attempts, new_job_id, p_correlation_id
        );
        UPDATE dead_letter_queue AS d SET retry_job_id = new_sync_job_id WHERE d.id = entry.id;
        UPDATE orders AS o
        SET status = 'pending', erp_sync_error = NULL
        WHERE o.id = order_id AND o.status = 'failed';
        entry_id := entry.id;
        vendor_id := entry.vendor_id;
        retry_job_id := new_sync_job_id;
        procrastinate_job_id := new_job_id;
        RETURN NEXT;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION restosync_retry_dead_letters(text, integer, uuid, text, text, timestamptz, timestamptz, text) IS
    'Retries open dead letters (one by p_entry_id, or all matching the filters): per entry a new sync_jobs row (original payload, syncJobId replaced by the new id, fresh attempt budget) and a new procrastinate job in the vendor''s lane, the entry marked retried with retry_job_id, the order back to pending; all in the caller''s transaction. Returns one row per entry retried. Entries locked by another transaction are skipped.';
