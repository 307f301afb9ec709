-- resolve_codes --
-- Active mappings of one vendor for many (type, code) pairs at once.
SELECT m.mapping_type, m.erp_code, m.resto_code, m.resto_label, m.vat_rate
FROM unnest(%(types)s::text[], %(codes)s::text[]) AS w(mapping_type, erp_code)
JOIN erp_code_mappings AS m
  ON m.vendor_id = %(vendor_id)s
 AND m.mapping_type = w.mapping_type
 AND m.erp_code = w.erp_code
 AND m.is_active

-- mapping_views --
-- Mappings with optional filters, in key order, with the total count.
SELECT id, vendor_id, mapping_type, erp_code, resto_code, resto_label, vat_rate, is_active,
       created_at, updated_at, count(*) OVER () AS total
FROM erp_code_mappings
WHERE (%(id)s::uuid IS NULL OR id = %(id)s)
  AND (%(vendor_id)s::text IS NULL OR vendor_id = %(vendor_id)s)
  AND (%(mapping_type)s::text IS NULL OR mapping_type = %(mapping_type)s)
  AND (%(erp_code)s::text IS NULL OR erp_code = %(erp_code)s)
  AND (%(is_active)s::boolean IS NULL OR is_active = %(is_active)s)
ORDER BY vendor_id, mapping_type, erp_code
LIMIT %(limit)s OFFSET %(offset)s

-- insert_mapping --
-- A new mapping; nothing when (vendor, type, code) exists already.
INSERT INTO erp_code_mappings (
    vendor_id, mapping_type, erp_code, resto_code, resto_label, vat_rate, is_active
)
VALUES (
    %(vendor_id)s, %(mapping_type)s, %(erp_code)s, %(resto_code)s, %(resto_label)s,
    %(vat_rate)s, %(is_active)s
)
ON CONFLICT (vendor_id, mapping_type, erp_code) DO NOTHING
RETURNING id

-- update_mapping --
-- Change what a mapping maps to; absent values keep the current ones.
UPDATE erp_code_mappings
SET resto_code = coalesce(%(resto_code)s, resto_code),
    resto_label = coalesce(%(resto_label)s, resto_label),
    vat_rate = coalesce(%(vat_rate)s, vat_rate),
    is_active = coalesce(%(is_active)s, is_active)
WHERE id = %(id)s
RETURNING id, vendor_id, mapping_type, erp_code, is_active

-- delete_mapping --
-- Remove a mapping.
DELETE FROM erp_code_mappings
WHERE id = %(id)s
RETURNING id, vendor_id, mapping_type, erp_code

-- seed_mappings --
-- Upsert many mappings in one statement, keys sorted; counts created and updated.
WITH incoming AS (
    SELECT *
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        vendor_id text, mapping_type text, erp_code text, resto_code text,
        resto_label text, vat_rate numeric, is_active boolean
    )
    ORDER BY vendor_id, mapping_type, erp_code
), upserted AS (
    INSERT INTO erp_code_mappings (
        vendor_id, mapping_type, erp_code, resto_code, resto_label, vat_rate, is_active
    )
    SELECT vendor_id, mapping_type, erp_code, resto_code, resto_label, vat_rate,
           coalesce(is_active, true)
    FROM incoming
    ON CONFLICT (vendor_id, mapping_type, erp_code) DO UPDATE
    SET resto_code = EXCLUDED.resto_code,
        resto_label = EXCLUDED.resto_label,
        vat_rate = EXCLUDED.vat_rate,
        is_active = EXCLUDED.is_active
    RETURNING vendor_id, mapping_type, erp_code, is_active, (xmax = 0) AS created
)
SELECT vendor_id, mapping_type, erp_code, is_active, created FROM upserted

-- mapping_gaps --
-- Codes of a vendor with no active mapping, by type, with how many rejected rows each blocks.
SELECT r.blocked_by_type AS mapping_type, r.blocked_by_code AS erp_code,
       count(*) AS blocked_rows, min(r.first_seen_at) AS first_seen_at,
       max(r.last_seen_at) AS last_seen_at
FROM ingest_rejections AS r
WHERE r.vendor_id = %(vendor_id)s
  AND r.blocked_by_type IN ('unit', 'vat', 'family', 'subfamily')
  AND NOT EXISTS (
      SELECT 1
      FROM erp_code_mappings AS m
      WHERE m.vendor_id = r.vendor_id
        AND m.mapping_type = r.blocked_by_type
        AND m.erp_code = r.blocked_by_code
        AND m.is_active
  )
GROUP BY r.blocked_by_type, r.blocked_by_code
ORDER BY blocked_rows DESC, mapping_type, erp_code

-- rejected_codes --
-- Which of these (vendor, type, code) keys block rejected rows (a replay is worth deferring).
SELECT DISTINCT r.vendor_id, r.blocked_by_type, r.blocked_by_code
FROM ingest_rejections AS r
JOIN unnest(%(vendor_ids)s::text[], %(types)s::text[], %(codes)s::text[])
     AS k(vendor_id, mapping_type, erp_code)
  ON r.vendor_id = k.vendor_id
 AND r.blocked_by_type = k.mapping_type
 AND r.blocked_by_code = k.erp_code
WHERE r.blocked_by_code IS NOT NULL
ORDER BY r.vendor_id, r.blocked_by_type, r.blocked_by_code
