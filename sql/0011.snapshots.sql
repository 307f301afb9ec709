-- depends: 0010.mappings-truncate
-- Full snapshots (SPEC §4.1): one row per completed snapshot, and what its job did with it.

-- The pages themselves are ingest_batches rows (snapshot_id, snapshot_page, snapshot_last,
-- snapshot_keys). This table gets its row in the transaction of the last page, together
-- with the job (task ingest:apply_snapshot, queue maintenance) that then deactivates or
-- zeroes the vendor's rows no page carried, or refuses to when they are too many
-- (SNAPSHOT_MAX_REMOVAL_SHARE). Its unique key also closes the snapshot: a page sent
-- after the last one is refused (409), a resent last page defers no second job.


-- ingest_snapshots ------------------------------------------------------------

CREATE TABLE ingest_snapshots (
    id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    entity text NOT NULL CHECK (entity IN ('items', 'stock', 'warehouses')),
    snapshot_id text NOT NULL CHECK (char_length(snapshot_id) BETWEEN 1 AND 100),
    last_page integer NOT NULL CHECK (last_page >= 0),
    forced boolean NOT NULL DEFAULT false,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'refused')),
    sent_keys integer CHECK (sent_keys >= 0),
    active_rows integer CHECK (active_rows >= 0),
    missing_rows integer CHECK (missing_rows >= 0),
    removed_rows integer CHECK (removed_rows >= 0),
    max_removal_share numeric CHECK (max_removal_share BETWEEN 0 AND 1),
    refusal_reason text,
    correlation_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT uq_ingest_snapshots_vendor_id_entity_snapshot_id
        UNIQUE (vendor_id, entity, snapshot_id),
    CONSTRAINT ck_ingest_snapshots_finished CHECK ((status = 'pending') = (finished_at IS NULL))
);

CREATE INDEX ix_ingest_snapshots_status_created_at ON ingest_snapshots (status, created_at);

COMMENT ON TABLE ingest_snapshots IS
    'One row per completed full snapshot (its last page committed), per vendor, entity and snapshot id; written with the last page, then finished by the ingest:apply_snapshot job. Refused snapshots stay here with status refused: SELECT * FROM ingest_snapshots WHERE status = ''refused''.';
COMMENT ON COLUMN ingest_snapshots.snapshot_id IS 'Id the agent gave the snapshot (snapshot.id of every page); its pages are the ingest_batches rows with this snapshot_id.';
COMMENT ON COLUMN ingest_snapshots.last_page IS 'Page number of the last page (pages 0..last_page all committed before it was accepted).';
COMMENT ON COLUMN ingest_snapshots.forced IS 'The last page carried snapshot.force = true: applied whatever share of rows it removes.';
COMMENT ON COLUMN ingest_snapshots.status IS
    'pending: job deferred, not run yet; applied: rows absent from the snapshot deactivated/zeroed; refused: it would have removed more than max_removal_share of the active rows (or it was empty), nothing changed. Resend with a new id and snapshot.force = true to apply.';
COMMENT ON COLUMN ingest_snapshots.sent_keys IS 'Distinct row keys the pages carried (whatever their outcome).';
COMMENT ON COLUMN ingest_snapshots.active_rows IS 'Active rows of the vendor and entity when the job ran (items/warehouses: is_active; stock: any quantity not zero).';
COMMENT ON COLUMN ingest_snapshots.missing_rows IS 'Active rows the snapshot did not contain (and that existed when its first page began): what it removes, or would have removed.';
COMMENT ON COLUMN ingest_snapshots.removed_rows IS 'Rows the job actually deactivated (items, warehouses) or zeroed (stock); 0 when refused.';
COMMENT ON COLUMN ingest_snapshots.max_removal_share IS 'SNAPSHOT_MAX_REMOVAL_SHARE of the worker that ran the job.';
COMMENT ON COLUMN ingest_snapshots.refusal_reason IS 'Why a refused snapshot was refused (empty, or share over the cap); NULL otherwise.';
COMMENT ON COLUMN ingest_snapshots.created_at IS 'When the last page committed (its transaction began).';
COMMENT ON COLUMN ingest_snapshots.finished_at IS 'When the job applied or refused it; NULL while pending.';
