-- depends: 0010.mappings-truncate
-- Reconciliation (SPEC §5.3, §6.1): the rows Postgres holds for the ERP, keyed as the
-- agent keys them, and their checksum computed exactly as the agent contract says.
--
-- Which rows count as present: every item and stock row except those a deletion left
-- behind. A deletion (a pushed tombstone without a hash, or reconciliation finding the
-- row gone from the ERP) stores content_hash = 'deleted' (sql queries retire_items /
-- retire_stock); such rows are absent for the comparison. A row the ERP itself marks
-- inactive (isActive false, with its content hash) is present: the ERP still has it.
-- Snapshot deletions (is_obsolete) store 'deleted' as well. So a repaired vendor has
-- equal checksums on both sides.

CREATE VIEW v_reconciliation_items AS
SELECT i.vendor_id, i.sku AS key, i.content_hash, i.last_synced_at
FROM items AS i
WHERE i.content_hash <> 'deleted';

COMMENT ON VIEW v_reconciliation_items IS
    'Items as reconciliation compares them with the ERP: key = sku (COLLATE "C"), the agent''s content hash; rows retired by a deletion (content_hash = ''deleted'') are left out.';

CREATE VIEW v_reconciliation_stock AS
SELECT s.vendor_id,
       (i.sku || '|' || w.erp_warehouse_id) COLLATE "C" AS key,
       s.content_hash,
       s.last_synced_at,
       i.sku AS item_sku,
       w.erp_warehouse_id
FROM stock AS s
JOIN items AS i ON i.id = s.item_id
JOIN warehouses AS w ON w.id = s.warehouse_id
WHERE s.content_hash <> 'deleted';

COMMENT ON VIEW v_reconciliation_stock IS
    'Stock rows as reconciliation compares them with the ERP: key = itemSku || ''|'' || erpWarehouseId, compared byte-wise as one string (COLLATE "C"); rows zeroed by a deletion (content_hash = ''deleted'') are left out. item_sku and erp_warehouse_id are the key''s parts (either may contain |).';

CREATE FUNCTION restosync_reconciliation_checksum(
    p_vendor_id text,
    p_entity text,
    p_range_start text DEFAULT NULL,
    p_range_end text DEFAULT NULL
)
    RETURNS TABLE (checksum text, row_count bigint)
    LANGUAGE sql
    STABLE
AS $$
    SELECT encode(sha256(convert_to(
               coalesce(string_agg(r.key || ':' || r.content_hash, '|' ORDER BY r.key COLLATE "C"), ''),
               'UTF8')), 'hex'),
           count(*)
    FROM (
        SELECT key, content_hash FROM v_reconciliation_items
        WHERE p_entity = 'items' AND vendor_id = p_vendor_id
        UNION ALL
        SELECT key, content_hash FROM v_reconciliation_stock
        WHERE p_entity = 'stock' AND vendor_id = p_vendor_id
    ) AS r
    WHERE (p_range_start IS NULL OR r.key COLLATE "C" >= p_range_start COLLATE "C")
      AND (p_range_end IS NULL OR r.key COLLATE "C" <= p_range_end COLLATE "C");
$$;

COMMENT ON FUNCTION restosync_reconciliation_checksum(text, text, text, text) IS
    'SPEC §5.3 checksum of a vendor''s items or stock in the inclusive byte-wise key range [start, end] (NULL: unbounded): lowercase hex SHA-256 of key:contentHash per row in key order joined by |, and the row count. Compare with the agent''s POST /sync/checksum; e.g. SELECT * FROM restosync_reconciliation_checksum(''vendor-1'', ''items'').';
