-- depends: 0013.maintenance
-- What a full snapshot (issue 4) sent, defined once: the keys its committed pages carried
-- and when its first page began. The count/retire statements of each entity (items,
-- stock, warehouses; restosync/db/queries/ingest.sql) read these instead of each
-- repeating the same query of ingest_batches. Both are plain SQL, so PostgreSQL inlines
-- them into the statement that calls them.

CREATE FUNCTION restosync_snapshot_sent_keys(
    p_vendor_id text, p_entity text, p_snapshot_id text
) RETURNS TABLE (key text)
LANGUAGE sql STABLE
AS $$
    SELECT DISTINCT k COLLATE "C"
    FROM ingest_batches AS b, unnest(b.snapshot_keys) AS k
    WHERE b.vendor_id = p_vendor_id AND b.entity = p_entity AND b.snapshot_id = p_snapshot_id
$$;

COMMENT ON FUNCTION restosync_snapshot_sent_keys(text, text, text) IS
    'Distinct row keys (sku, itemSku|erpWarehouseId, erpWarehouseId) the committed pages of a vendor''s snapshot carried (ingest_batches.snapshot_keys). Compare with COLLATE "C".';

CREATE FUNCTION restosync_snapshot_started_at(
    p_vendor_id text, p_entity text, p_snapshot_id text
) RETURNS timestamptz
LANGUAGE sql STABLE
AS $$
    SELECT min(b.created_at)
    FROM ingest_batches AS b
    WHERE b.vendor_id = p_vendor_id AND b.entity = p_entity AND b.snapshot_id = p_snapshot_id
$$;

COMMENT ON FUNCTION restosync_snapshot_started_at(text, text, text) IS
    'When the first committed page of a vendor''s snapshot began: rows created since cannot be in the snapshot, so it never retires them.';
