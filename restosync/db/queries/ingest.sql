-- stored_items --
-- Stored version (hash, sync time, inactive) of a vendor's items, by sku.
-- One unique-index probe per key (LATERAL … LIMIT 1 is never flattened into a join), so
-- the plan does not depend on planner statistics (none after a bulk load, autovacuum off).
SELECT i.sku AS key, i.content_hash, i.last_synced_at, NOT i.is_active AS retired
FROM unnest(%(keys)b::text[]) AS k (sku)
CROSS JOIN LATERAL (
    SELECT sku, content_hash, last_synced_at, is_active
    FROM items
    WHERE vendor_id = %(vendor_id)s AND sku = k.sku
    LIMIT 1
) AS i

-- lock_items --
-- Lock items about to be written by more than one statement, in key order (no deadlock).
SELECT id
FROM items
WHERE vendor_id = %(vendor_id)s AND sku = ANY(%(keys)b::text[])
ORDER BY sku
FOR NO KEY UPDATE

-- stage_items --
-- The temp table items are loaded into by COPY (copy_items), created once per connection:
-- it outlives the transaction (emptied at commit), unless the transaction creating it
-- rolls back (a dry run), and then the next request creates it again.
CREATE TEMP TABLE IF NOT EXISTS ingest_staged_items (
    sku text, erp_id text, name text, description text, barcode text, erp_unit_code text,
    erp_vat_code text, erp_family_code text, erp_subfamily_code text, unit_price numeric,
    price_excl_vat numeric, price_incl_vat numeric, vat_amount numeric,
    catalog_price numeric, purchase_price numeric, minimum_order_quantity numeric,
    currency text, manage_stock boolean, allow_negative_stock boolean,
    stock_booking_allowed boolean, automatic_stock_booking boolean, tracking_mode text,
    pick_movement_disallowed_on_totally_booked_item boolean, weight numeric,
    weight_unit text, height numeric, width numeric, length numeric, dimension_unit text,
    items_per_package numeric, brand text, days_to_ship integer, ship_price_ttc numeric,
    origin_country_code text, meta_title text, meta_description text, meta_keywords text,
    is_active boolean, publish_on_web boolean, content_hash text, last_synced_at timestamptz,
    slug text, unit_code text, unit_label text, vat_code text, vat_label text,
    vat_rate numeric, family_code text, family_label text, subfamily_code text,
    subfamily_label text
) ON COMMIT DELETE ROWS

-- clear_staged_items --
-- Rows staged earlier in the same transaction (e.g. a replay of several batches) go first.
DELETE FROM ingest_staged_items

-- copy_items --
-- Items to upsert, one text COPY row each (the columns of ingest_staged_items, in order).
COPY ingest_staged_items (
    sku, erp_id, name, description, barcode, erp_unit_code, erp_vat_code, erp_family_code,
    erp_subfamily_code, unit_price, price_excl_vat, price_incl_vat, vat_amount,
    catalog_price, purchase_price, minimum_order_quantity, currency, manage_stock,
    allow_negative_stock, stock_booking_allowed, automatic_stock_booking, tracking_mode,
    pick_movement_disallowed_on_totally_booked_item, weight, weight_unit, height, width,
    length, dimension_unit, items_per_package, brand, days_to_ship, ship_price_ttc,
    origin_country_code, meta_title, meta_description, meta_keywords, is_active,
    publish_on_web, content_hash, last_synced_at, slug, unit_code, unit_label, vat_code,
    vat_label, vat_rate, family_code, family_label, subfamily_code, subfamily_label
) FROM STDIN

-- insert_new_items --
-- Items none of whose keys is stored (`insert_new_rows`): COPY straight into the table, no
-- staging, no upsert. The values of copy_items with the vendor first and the meta fields
-- already gathered into `extra`, last. A key that a concurrent push inserted meanwhile
-- raises unique_violation: the caller then upserts the rows instead.
COPY items (
    vendor_id, sku, erp_id, name, description, barcode, erp_unit_code, erp_vat_code,
    erp_family_code, erp_subfamily_code, unit_price, price_excl_vat, price_incl_vat,
    vat_amount, catalog_price, purchase_price, minimum_order_quantity, currency,
    manage_stock, allow_negative_stock, stock_booking_allowed, automatic_stock_booking,
    tracking_mode, pick_movement_disallowed_on_totally_booked_item, weight, weight_unit,
    height, width, length, dimension_unit, items_per_package, brand, days_to_ship,
    ship_price_ttc, origin_country_code, is_active, publish_on_web, content_hash,
    last_synced_at, slug, unit_code, unit_label, vat_code, vat_label, vat_rate,
    family_code, family_label, subfamily_code, subfamily_label, extra
) FROM STDIN

-- upsert_items --
-- Insert/update the staged items (copy_items), in key order; unchanged or older rows are
-- not written. (Read from the table itself: a `DELETE … RETURNING` CTE instead spilled
-- its 5000 rows to a temp file, ≈ 30 ms.)
INSERT INTO items (
    vendor_id, sku, erp_id, name, description, slug, barcode, erp_unit_code, erp_vat_code,
    erp_family_code, erp_subfamily_code, unit_code, unit_label, vat_code, vat_label,
    vat_rate, family_code, family_label, subfamily_code, subfamily_label, unit_price,
    price_excl_vat, price_incl_vat, vat_amount, catalog_price, purchase_price,
    minimum_order_quantity, currency, manage_stock, allow_negative_stock,
    stock_booking_allowed, automatic_stock_booking, tracking_mode,
    pick_movement_disallowed_on_totally_booked_item, weight, weight_unit, height, width,
    length, dimension_unit, items_per_package, brand, days_to_ship, ship_price_ttc,
    origin_country_code, extra, is_active, publish_on_web, content_hash, last_synced_at
)
SELECT %(vendor_id)s,
       r.sku, r.erp_id, r.name, r.description, r.slug, r.barcode, r.erp_unit_code,
       r.erp_vat_code, r.erp_family_code, r.erp_subfamily_code, r.unit_code, r.unit_label,
       r.vat_code, r.vat_label, r.vat_rate, r.family_code, r.family_label, r.subfamily_code,
       r.subfamily_label, r.unit_price, r.price_excl_vat, r.price_incl_vat, r.vat_amount,
       r.catalog_price, r.purchase_price, r.minimum_order_quantity, r.currency,
       r.manage_stock, r.allow_negative_stock, r.stock_booking_allowed,
       r.automatic_stock_booking, r.tracking_mode,
       r.pick_movement_disallowed_on_totally_booked_item, r.weight, r.weight_unit, r.height,
       r.width, r.length, r.dimension_unit, r.items_per_package, r.brand, r.days_to_ship,
       r.ship_price_ttc, r.origin_country_code,
       jsonb_strip_nulls(jsonb_build_object('meta_title', r.meta_title,
           'meta_description', r.meta_description, 'meta_keywords', r.meta_keywords)),
       r.is_active, r.publish_on_web, r.content_hash, r.last_synced_at
FROM ingest_staged_items AS r
ORDER BY r.sku COLLATE "C"
ON CONFLICT (vendor_id, sku) DO UPDATE SET
    erp_id = EXCLUDED.erp_id,
    name = EXCLUDED.name,
    description = EXCLUDED.description,
    slug = EXCLUDED.slug,
    barcode = EXCLUDED.barcode,
    erp_unit_code = EXCLUDED.erp_unit_code,
    erp_vat_code = EXCLUDED.erp_vat_code,
    erp_family_code = EXCLUDED.erp_family_code,
    erp_subfamily_code = EXCLUDED.erp_subfamily_code,
    unit_code = EXCLUDED.unit_code,
    unit_label = EXCLUDED.unit_label,
    vat_code = EXCLUDED.vat_code,
    vat_label = EXCLUDED.vat_label,
    vat_rate = EXCLUDED.vat_rate,
    family_code = EXCLUDED.family_code,
    family_label = EXCLUDED.family_label,
    subfamily_code = EXCLUDED.subfamily_code,
    subfamily_label = EXCLUDED.subfamily_label,
    unit_price = EXCLUDED.unit_price,
    price_excl_vat = EXCLUDED.price_excl_vat,
    price_incl_vat = EXCLUDED.price_incl_vat,
    vat_amount = EXCLUDED.vat_amount,
    catalog_price = EXCLUDED.catalog_price,
    purchase_price = EXCLUDED.purchase_price,
    minimum_order_quantity = EXCLUDED.minimum_order_quantity,
    currency = EXCLUDED.currency,
    manage_stock = EXCLUDED.manage_stock,
    allow_negative_stock = EXCLUDED.allow_negative_stock,
    stock_booking_allowed = EXCLUDED.stock_booking_allowed,
    automatic_stock_booking = EXCLUDED.automatic_stock_booking,
    tracking_mode = EXCLUDED.tracking_mode,
    pick_movement_disallowed_on_totally_booked_item = EXCLUDED.pick_movement_disallowed_on_totally_booked_item,
    weight = EXCLUDED.weight,
    weight_unit = EXCLUDED.weight_unit,
    height = EXCLUDED.height,
    width = EXCLUDED.width,
    length = EXCLUDED.length,
    dimension_unit = EXCLUDED.dimension_unit,
    items_per_package = EXCLUDED.items_per_package,
    brand = EXCLUDED.brand,
    days_to_ship = EXCLUDED.days_to_ship,
    ship_price_ttc = EXCLUDED.ship_price_ttc,
    origin_country_code = EXCLUDED.origin_country_code,
    extra = EXCLUDED.extra,
    is_active = EXCLUDED.is_active,
    publish_on_web = EXCLUDED.publish_on_web,
    content_hash = EXCLUDED.content_hash,
    last_synced_at = EXCLUDED.last_synced_at,
    is_obsolete = false
WHERE items.content_hash IS DISTINCT FROM EXCLUDED.content_hash
  AND items.last_synced_at <= EXCLUDED.last_synced_at
RETURNING sku

-- retire_items --
-- Tombstones: deactivate items (not when stale, same hash, or already inactive without a hash).
-- A tombstone without a hash stores 'deleted', so the row's old content, pushed again, lands.
UPDATE items AS i
SET is_active = false,
    content_hash = coalesce(t.content_hash, 'deleted'),
    last_synced_at = t.last_synced_at
FROM json_to_recordset(%(rows)s::json) AS t (sku text, content_hash text, last_synced_at timestamptz)
WHERE i.vendor_id = %(vendor_id)s
  AND i.sku = t.sku
  AND i.content_hash IS DISTINCT FROM t.content_hash
  AND i.last_synced_at <= t.last_synced_at
  AND (t.content_hash IS NOT NULL OR i.is_active)
RETURNING i.sku

-- stored_warehouses --
-- Stored version (hash, sync time, inactive) of a vendor's warehouses, by ERP id.
-- One unique-index probe per key, whatever the statistics (as stored_items).
SELECT w.erp_warehouse_id AS key, w.content_hash, w.last_synced_at, NOT w.is_active AS retired
FROM unnest(%(keys)b::text[]) AS k (erp_warehouse_id)
CROSS JOIN LATERAL (
    SELECT erp_warehouse_id, content_hash, last_synced_at, is_active
    FROM warehouses
    WHERE vendor_id = %(vendor_id)s AND erp_warehouse_id = k.erp_warehouse_id
    LIMIT 1
) AS w

-- warehouse_code_holders --
-- Which warehouse (ERP id) holds each of these codes of a vendor.
SELECT code, erp_warehouse_id
FROM warehouses
WHERE vendor_id = %(vendor_id)s AND code = ANY(%(codes)s::text[])

-- lock_warehouses --
-- Lock warehouses about to be written by more than one statement, in key order.
SELECT id
FROM warehouses
WHERE vendor_id = %(vendor_id)s AND erp_warehouse_id = ANY(%(keys)b::text[])
ORDER BY erp_warehouse_id
FOR NO KEY UPDATE

-- upsert_warehouses --
-- Insert/update warehouses from a JSON array, in key order; unchanged or older rows are not written.
INSERT INTO warehouses (
    vendor_id, erp_warehouse_id, code, name, address, city, postal_code, state, country,
    latitude, longitude, is_active, is_main, type, multi_location_enabled,
    last_inventory_date, content_hash, last_synced_at
)
SELECT %(vendor_id)s,
       r.erp_warehouse_id, r.code, r.name, r.address, r.city, r.postal_code, r.state,
       r.country, r.latitude, r.longitude, r.is_active, r.is_main, r.type,
       r.multi_location_enabled, r.last_inventory_date, r.content_hash, r.last_synced_at
FROM json_to_recordset(%(rows)s::json) AS r (
    erp_warehouse_id text, code text, name text, address text, city text,
    postal_code text, state text, country text, latitude numeric, longitude numeric,
    is_active boolean, is_main boolean, type smallint, multi_location_enabled boolean,
    last_inventory_date timestamptz, content_hash text, last_synced_at timestamptz
)
ORDER BY r.erp_warehouse_id COLLATE "C"
ON CONFLICT (vendor_id, erp_warehouse_id) DO UPDATE SET
    code = EXCLUDED.code,
    name = EXCLUDED.name,
    address = EXCLUDED.address,
    city = EXCLUDED.city,
    postal_code = EXCLUDED.postal_code,
    state = EXCLUDED.state,
    country = EXCLUDED.country,
    latitude = EXCLUDED.latitude,
    longitude = EXCLUDED.longitude,
    is_active = EXCLUDED.is_active,
    is_main = EXCLUDED.is_main,
    type = EXCLUDED.type,
    multi_location_enabled = EXCLUDED.multi_location_enabled,
    last_inventory_date = EXCLUDED.last_inventory_date,
    content_hash = EXCLUDED.content_hash,
    last_synced_at = EXCLUDED.last_synced_at
WHERE warehouses.content_hash IS DISTINCT FROM EXCLUDED.content_hash
  AND warehouses.last_synced_at <= EXCLUDED.last_synced_at
RETURNING erp_warehouse_id

-- retire_warehouses --
-- Tombstones: deactivate warehouses (not when stale, same hash, or already inactive without a hash).
UPDATE warehouses AS w
SET is_active = false,
    content_hash = coalesce(t.content_hash, 'deleted'),
    last_synced_at = t.last_synced_at
FROM json_to_recordset(%(rows)s::json) AS t (
    erp_warehouse_id text, content_hash text, last_synced_at timestamptz
)
WHERE w.vendor_id = %(vendor_id)s
  AND w.erp_warehouse_id = t.erp_warehouse_id
  AND w.content_hash IS DISTINCT FROM t.content_hash
  AND w.last_synced_at <= t.last_synced_at
  AND (t.content_hash IS NOT NULL OR w.is_active)
RETURNING w.erp_warehouse_id

-- stored_stock --
-- Per pushed stock key: item and warehouse ids (NULL when unknown) and the stored version.
-- Ids as text: psycopg makes a uuid.UUID of each uuid value (≈ 1.5 µs), and hashing them costs.
-- Items and warehouses are probed once per distinct sku / ERP id (a page of 5000 rows names
-- ≈ 1700 items and 3 warehouses: a third of the time of probing per key), then hash-joined
-- to the keys; stock is probed per key. Every probe is one unique-index lookup (LATERAL …
-- LIMIT 1 is never flattened), so the plan does not depend on planner statistics (a hash
-- join of all the vendor's items and stock otherwise, when there are none).
WITH k AS MATERIALIZED (
    SELECT item_sku, erp_warehouse_id
    FROM unnest(%(item_skus)b::text[], %(erp_warehouse_ids)b::text[])
         AS k (item_sku, erp_warehouse_id)
),
i AS MATERIALIZED (
    SELECT d.item_sku, x.id
    FROM (SELECT DISTINCT item_sku FROM k) AS d
    CROSS JOIN LATERAL (
        SELECT id FROM items WHERE vendor_id = %(vendor_id)s AND sku = d.item_sku LIMIT 1
    ) AS x
),
w AS MATERIALIZED (
    SELECT d.erp_warehouse_id, x.id
    FROM (SELECT DISTINCT erp_warehouse_id FROM k) AS d
    CROSS JOIN LATERAL (
        SELECT id
        FROM warehouses
        WHERE vendor_id = %(vendor_id)s AND erp_warehouse_id = d.erp_warehouse_id
        LIMIT 1
    ) AS x
)
SELECT k.item_sku, k.erp_warehouse_id, i.id::text AS item_id, w.id::text AS warehouse_id,
       s.content_hash, s.last_synced_at, s.retired
FROM k
LEFT JOIN i ON i.item_sku = k.item_sku
LEFT JOIN w ON w.erp_warehouse_id = k.erp_warehouse_id
LEFT JOIN LATERAL (
    SELECT content_hash, last_synced_at,
           (real_stock = 0 AND virtual_stock = 0 AND reserved_quantity = 0
            AND ordered_quantity = 0 AND incoming_quantity = 0
            AND coalesce(stock_value, 0) = 0) AS retired
    FROM stock
    WHERE vendor_id = %(vendor_id)s AND warehouse_id = w.id AND item_id = i.id
    LIMIT 1
) AS s ON true

-- lock_stock --
-- Lock stock rows about to be written by more than one statement, in key order.
SELECT s.id
FROM stock AS s
JOIN unnest(%(warehouse_ids)b::uuid[], %(item_ids)b::uuid[]) AS k (warehouse_id, item_id)
  ON s.warehouse_id = k.warehouse_id AND s.item_id = k.item_id
WHERE s.vendor_id = %(vendor_id)s
ORDER BY s.warehouse_id, s.item_id
FOR NO KEY UPDATE OF s

-- share_lock_warehouses --
-- Before inserting stock rows: take the warehouses' FK locks in key order, as warehouse
-- upserts lock them (an upsert that sets `code` takes the lock a FK check waits for).
SELECT id
FROM warehouses
WHERE id = ANY(%(warehouse_ids)b::uuid[])
ORDER BY erp_warehouse_id
FOR KEY SHARE

-- stage_stock --
-- The temp table stock rows are loaded into by COPY (copy_stock), as stage_items.
CREATE TEMP TABLE IF NOT EXISTS ingest_staged_stock (
    item_id uuid, warehouse_id uuid, real_stock numeric, virtual_stock numeric,
    reserved_quantity numeric, ordered_quantity numeric, incoming_quantity numeric,
    pump numeric, stock_value numeric, min_stock numeric, max_stock numeric,
    stock_to_order_threshold numeric, last_synced_from text, content_hash text,
    last_synced_at timestamptz
) ON COMMIT DELETE ROWS

-- clear_staged_stock --
-- Rows staged earlier in the same transaction go first (as clear_staged_items).
DELETE FROM ingest_staged_stock

-- copy_stock --
-- Stock rows to upsert, one text COPY row each (the columns of ingest_staged_stock, in order).
COPY ingest_staged_stock (
    item_id, warehouse_id, real_stock, virtual_stock, reserved_quantity, ordered_quantity,
    incoming_quantity, pump, stock_value, min_stock, max_stock, stock_to_order_threshold,
    last_synced_from, content_hash, last_synced_at
) FROM STDIN

-- insert_new_stock --
-- Stock rows none of whose keys is stored (`insert_new_rows`), as insert_new_items: the rows
-- of copy_stock with the vendor first, in key order (warehouse_id, item_id).
COPY stock (
    vendor_id, item_id, warehouse_id, real_stock, virtual_stock, reserved_quantity,
    ordered_quantity, incoming_quantity, pump, stock_value, min_stock, max_stock,
    stock_to_order_threshold, last_synced_from, content_hash, last_synced_at
) FROM STDIN

-- upsert_stock --
-- Insert/update the staged stock rows (copy_stock), in key order; unchanged or older rows
-- are not written.
INSERT INTO stock (
    vendor_id, item_id, warehouse_id, real_stock, virtual_stock, reserved_quantity,
    ordered_quantity, incoming_quantity, pump, stock_value, min_stock, max_stock,
    stock_to_order_threshold, last_synced_from, content_hash, last_synced_at
)
SELECT %(vendor_id)s,
       r.item_id, r.warehouse_id, r.real_stock, r.virtual_stock, r.reserved_quantity,
       r.ordered_quantity, r.incoming_quantity, r.pump, r.stock_value, r.min_stock,
       r.max_stock, r.stock_to_order_threshold, r.last_synced_from, r.content_hash,
       r.last_synced_at
FROM ingest_staged_stock AS r
ORDER BY r.warehouse_id, r.item_id
ON CONFLICT (vendor_id, warehouse_id, item_id) DO UPDATE SET
    real_stock = EXCLUDED.real_stock,
    virtual_stock = EXCLUDED.virtual_stock,
    reserved_quantity = EXCLUDED.reserved_quantity,
    ordered_quantity = EXCLUDED.ordered_quantity,
    incoming_quantity = EXCLUDED.incoming_quantity,
    pump = EXCLUDED.pump,
    stock_value = EXCLUDED.stock_value,
    min_stock = EXCLUDED.min_stock,
    max_stock = EXCLUDED.max_stock,
    stock_to_order_threshold = EXCLUDED.stock_to_order_threshold,
    last_synced_from = EXCLUDED.last_synced_from,
    content_hash = EXCLUDED.content_hash,
    last_synced_at = EXCLUDED.last_synced_at
WHERE stock.content_hash IS DISTINCT FROM EXCLUDED.content_hash
  AND stock.last_synced_at <= EXCLUDED.last_synced_at
RETURNING item_id::text, warehouse_id::text  -- text, as stored_stock's ids

-- retire_stock --
-- Tombstones: zero stock rows (not when stale, same hash, or already zero without a hash).
UPDATE stock AS s
SET real_stock = 0, virtual_stock = 0, reserved_quantity = 0, ordered_quantity = 0,
    incoming_quantity = 0, stock_value = 0,
    content_hash = coalesce(t.content_hash, 'deleted'),
    last_synced_at = t.last_synced_at
FROM json_to_recordset(%(rows)s::json) AS t (
    item_id uuid, warehouse_id uuid, content_hash text, last_synced_at timestamptz
)
WHERE s.vendor_id = %(vendor_id)s
  AND s.warehouse_id = t.warehouse_id
  AND s.item_id = t.item_id
  AND s.content_hash IS DISTINCT FROM t.content_hash
  AND s.last_synced_at <= t.last_synced_at
  AND (t.content_hash IS NOT NULL
       OR NOT (s.real_stock = 0 AND s.virtual_stock = 0 AND s.reserved_quantity = 0
               AND s.ordered_quantity = 0 AND s.incoming_quantity = 0
               AND coalesce(s.stock_value, 0) = 0))
RETURNING s.item_id::text AS item_id, s.warehouse_id::text AS warehouse_id  -- as stored_stock

-- lock_items_by_id --
-- Lock items whose stock totals change, in sku order like every other item write.
SELECT id
FROM items
WHERE id = ANY(%(item_ids)b::uuid[])
ORDER BY sku
FOR NO KEY UPDATE

-- update_item_stock_totals --
-- Stock totals of these items = sums over all their stock rows (run after lock_items_by_id).
UPDATE items AS i
SET total_real_stock = t.real_stock,
    total_virtual_stock = t.virtual_stock,
    total_reserved_quantity = t.reserved_quantity
FROM (
    SELECT s.item_id,
           sum(s.real_stock) AS real_stock,
           sum(s.virtual_stock) AS virtual_stock,
           sum(s.reserved_quantity) AS reserved_quantity
    FROM stock AS s
    WHERE s.item_id = ANY(%(item_ids)b::uuid[])
    GROUP BY s.item_id
) AS t
WHERE i.id = t.item_id
  AND (i.total_real_stock, i.total_virtual_stock, i.total_reserved_quantity)
      IS DISTINCT FROM (t.real_stock, t.virtual_stock, t.reserved_quantity)

-- record_ingest_rejections --
-- Keep the latest rejected version of each row (key order: concurrent requests cannot deadlock).
INSERT INTO ingest_rejections (
    vendor_id, entity, row_key, reason, detail, raw_row, blocked_by_type, blocked_by_code,
    correlation_id
)
SELECT %(vendor_id)s, %(entity)s, r.row_key, r.reason, r.detail, r.raw_row,
       r.blocked_by_type, r.blocked_by_code, %(correlation_id)s
FROM json_to_recordset(%(rows)s::json) AS r (
    row_key text, reason text, detail text, raw_row jsonb, blocked_by_type text,
    blocked_by_code text
)
ORDER BY r.row_key COLLATE "C"
ON CONFLICT (vendor_id, entity, row_key) DO UPDATE SET
    reason = EXCLUDED.reason,
    detail = EXCLUDED.detail,
    raw_row = EXCLUDED.raw_row,
    blocked_by_type = EXCLUDED.blocked_by_type,
    blocked_by_code = EXCLUDED.blocked_by_code,
    correlation_id = coalesce(EXCLUDED.correlation_id, ingest_rejections.correlation_id),
    last_seen_at = CASE WHEN %(count_as_seen)s THEN now() ELSE ingest_rejections.last_seen_at END,
    seen_count = ingest_rejections.seen_count + CASE WHEN %(count_as_seen)s THEN 1 ELSE 0 END

-- pending_rejections --
-- Whether the vendor has rejected rows of this entity, and rows waiting for this kind of
-- row (NULL: none can): when it has none, a push skips the statements that would settle
-- them (two probes per pushed key). Each is one index probe.
SELECT EXISTS (
           SELECT 1 FROM ingest_rejections
           WHERE vendor_id = %(vendor_id)s AND entity = %(entity)s
       ) AS of_entity,
       %(blocked_by_type)s::text IS NOT NULL AND EXISTS (
           SELECT 1 FROM ingest_rejections
           WHERE vendor_id = %(vendor_id)s AND blocked_by_type = %(blocked_by_type)s
       ) AS waiting

-- clear_ingest_rejections --
-- Forget the rejections of rows that landed (locked in key order first, like the insert).
DELETE FROM ingest_rejections
WHERE id IN (
    SELECT id
    FROM ingest_rejections
    WHERE vendor_id = %(vendor_id)s AND entity = %(entity)s AND row_key = ANY(%(keys)b::text[])
    ORDER BY row_key COLLATE "C"
    FOR UPDATE
)

-- blocked_codes --
-- Which of these item SKUs / warehouse ids stock rejections of a vendor are waiting for.
SELECT DISTINCT blocked_by_code
FROM ingest_rejections
WHERE vendor_id = %(vendor_id)s
  AND blocked_by_type = %(blocked_by_type)s
  AND blocked_by_code = ANY(%(codes)b::text[])

-- rejections_to_replay --
-- A vendor's rejected rows to re-run, optionally of one entity or blocked by given codes.
SELECT entity, row_key, raw_row
FROM ingest_rejections
WHERE vendor_id = %(vendor_id)s
  AND (%(entity)s::text IS NULL OR entity = %(entity)s)
  AND (%(blocked_by_type)s::text IS NULL OR blocked_by_type = %(blocked_by_type)s)
  AND (%(codes)s::text[] IS NULL OR blocked_by_code = ANY(%(codes)s::text[]))
ORDER BY entity, row_key COLLATE "C"

-- rejection_views --
-- Rejected rows, newest first, with optional filters on vendor, entity and reason.
SELECT id, vendor_id, entity, row_key, reason, detail, raw_row, blocked_by_type,
       blocked_by_code, correlation_id, first_seen_at, last_seen_at, seen_count,
       count(*) OVER () AS total
FROM ingest_rejections
WHERE (%(vendor_id)s::text IS NULL OR vendor_id = %(vendor_id)s)
  AND (%(entity)s::text IS NULL OR entity = %(entity)s)
  AND (%(reason)s::text IS NULL OR reason = %(reason)s)
ORDER BY last_seen_at DESC, id
LIMIT %(limit)s OFFSET %(offset)s

-- record_ingest_batch --
-- One row per committed ingest request (snapshot columns NULL unless a snapshot page).
INSERT INTO ingest_batches (
    vendor_id, entity, mode, received_count, processed_count, skipped_count, failed_count,
    bytes, duration_ms, correlation_id, snapshot_id, snapshot_page, snapshot_last,
    snapshot_keys
)
VALUES (
    %(vendor_id)s, %(entity)s, %(mode)s, %(received_count)s, %(processed_count)s,
    %(skipped_count)s, %(failed_count)s, %(bytes)s, %(duration_ms)s, %(correlation_id)s,
    %(snapshot_id)s, %(snapshot_page)s, %(snapshot_last)s, %(snapshot_keys)s::text[]
)

-- Full snapshots (issue 4) -------------------------------------------------------------
-- Every statement below reads what a snapshot contained as the union of the
-- snapshot_keys of its pages (ingest_batches), compared with the table in SQL.

-- snapshot_state --
-- Pages of a snapshot committed so far, and its last page once it is complete.
SELECT (
           SELECT last_page
           FROM ingest_snapshots
           WHERE vendor_id = %(vendor_id)s AND entity = %(entity)s
             AND snapshot_id = %(snapshot_id)s
       ) AS completed_last_page,
       ARRAY(
           SELECT DISTINCT snapshot_page
           FROM ingest_batches
           WHERE vendor_id = %(vendor_id)s AND entity = %(entity)s
             AND snapshot_id = %(snapshot_id)s
           ORDER BY snapshot_page
       ) AS pages

-- complete_snapshot --
-- The last page committed: the snapshot's row; no row when it was already complete.
INSERT INTO ingest_snapshots (
    vendor_id, entity, snapshot_id, last_page, forced, correlation_id
)
VALUES (
    %(vendor_id)s, %(entity)s, %(snapshot_id)s, %(last_page)s, %(forced)s, %(correlation_id)s
)
ON CONFLICT (vendor_id, entity, snapshot_id) DO NOTHING
RETURNING id

-- lock_pending_snapshot --
-- The snapshot's row, locked for its job; no row unless it is still pending.
SELECT id, forced
FROM ingest_snapshots
WHERE vendor_id = %(vendor_id)s AND entity = %(entity)s AND snapshot_id = %(snapshot_id)s
  AND status = 'pending'
FOR UPDATE

-- finish_snapshot --
-- What the job did with a snapshot (applied or refused), with its counts.
UPDATE ingest_snapshots
SET status = %(status)s,
    sent_keys = %(sent_keys)s,
    active_rows = %(active_rows)s,
    missing_rows = %(missing_rows)s,
    removed_rows = %(removed_rows)s,
    max_removal_share = %(max_removal_share)s,
    refusal_reason = %(refusal_reason)s,
    finished_at = now()
WHERE id = %(id)s

-- count_items_missing_from_snapshot --
-- Distinct keys sent, active items, and active items no page carried (that existed when
-- the snapshot's first page began: rows created since cannot be in it).
WITH sent AS (
    SELECT key COLLATE "C" AS key
    FROM restosync_snapshot_sent_keys(%(vendor_id)s, 'items', %(snapshot_id)s)
)
SELECT (SELECT count(*) FROM sent) AS sent_keys,
       count(*) AS active_rows,
       count(*) FILTER (
           WHERE i.created_at < (
               SELECT restosync_snapshot_started_at(%(vendor_id)s, 'items', %(snapshot_id)s)
           )
             AND NOT EXISTS (SELECT 1 FROM sent WHERE sent.key = i.sku)
       ) AS missing_rows
FROM items AS i
WHERE i.vendor_id = %(vendor_id)s AND i.is_active

-- retire_items_missing_from_snapshot --
-- Deactivate and mark obsolete the active items counted missing above, locked in sku
-- order like every item write. The hash becomes 'deleted' (as for tombstones), so the
-- row's content, pushed again, lands.
WITH sent AS (
    SELECT key COLLATE "C" AS key
    FROM restosync_snapshot_sent_keys(%(vendor_id)s, 'items', %(snapshot_id)s)
), missing AS (
    SELECT i.id
    FROM items AS i
    WHERE i.vendor_id = %(vendor_id)s AND i.is_active
      AND i.created_at < (
          SELECT restosync_snapshot_started_at(%(vendor_id)s, 'items', %(snapshot_id)s)
      )
      AND NOT EXISTS (SELECT 1 FROM sent WHERE sent.key = i.sku)
    ORDER BY i.sku
    FOR NO KEY UPDATE
)
UPDATE items AS i
SET is_active = false, is_obsolete = true, content_hash = 'deleted'
FROM missing
WHERE i.id = missing.id AND i.is_active
RETURNING i.id

-- count_warehouses_missing_from_snapshot --
-- Distinct keys sent, active warehouses, and active warehouses no page carried.
WITH sent AS (
    SELECT key COLLATE "C" AS key
    FROM restosync_snapshot_sent_keys(%(vendor_id)s, 'warehouses', %(snapshot_id)s)
)
SELECT (SELECT count(*) FROM sent) AS sent_keys,
       count(*) AS active_rows,
       count(*) FILTER (
           WHERE w.created_at < (
               SELECT restosync_snapshot_started_at(%(vendor_id)s, 'warehouses', %(snapshot_id)s)
           )
             AND NOT EXISTS (SELECT 1 FROM sent WHERE sent.key = w.erp_warehouse_id)
       ) AS missing_rows
FROM warehouses AS w
WHERE w.vendor_id = %(vendor_id)s AND w.is_active

-- retire_warehouses_missing_from_snapshot --
-- Deactivate the active warehouses counted missing above, locked in ERP id order.
WITH sent AS (
    SELECT key COLLATE "C" AS key
    FROM restosync_snapshot_sent_keys(%(vendor_id)s, 'warehouses', %(snapshot_id)s)
), missing AS (
    SELECT w.id
    FROM warehouses AS w
    WHERE w.vendor_id = %(vendor_id)s AND w.is_active
      AND w.created_at < (
          SELECT restosync_snapshot_started_at(%(vendor_id)s, 'warehouses', %(snapshot_id)s)
      )
      AND NOT EXISTS (SELECT 1 FROM sent WHERE sent.key = w.erp_warehouse_id)
    ORDER BY w.erp_warehouse_id
    FOR NO KEY UPDATE
)
UPDATE warehouses AS w
SET is_active = false, content_hash = 'deleted'
FROM missing
WHERE w.id = missing.id AND w.is_active
RETURNING w.id

-- count_stock_missing_from_snapshot --
-- Distinct keys sent, stock rows not zero, and those no page carried (itemSku|erpWarehouseId).
WITH sent AS (
    SELECT key COLLATE "C" AS key
    FROM restosync_snapshot_sent_keys(%(vendor_id)s, 'stock', %(snapshot_id)s)
)
SELECT (SELECT count(*) FROM sent) AS sent_keys,
       count(*) AS active_rows,
       count(*) FILTER (
           WHERE s.created_at < (
               SELECT restosync_snapshot_started_at(%(vendor_id)s, 'stock', %(snapshot_id)s)
           )
             AND NOT EXISTS (
                 SELECT 1 FROM sent WHERE sent.key = i.sku || '|' || w.erp_warehouse_id
             )
       ) AS missing_rows
FROM stock AS s
JOIN items AS i ON i.id = s.item_id
JOIN warehouses AS w ON w.id = s.warehouse_id
WHERE s.vendor_id = %(vendor_id)s
  AND NOT (s.real_stock = 0 AND s.virtual_stock = 0 AND s.reserved_quantity = 0
           AND s.ordered_quantity = 0 AND s.incoming_quantity = 0
           AND coalesce(s.stock_value, 0) = 0)

-- zero_stock_missing_from_snapshot --
-- Zero the stock rows counted missing above (as a tombstone does), locked in the key
-- order of every stock write; the item totals follow (update_item_stock_totals).
WITH sent AS (
    SELECT key COLLATE "C" AS key
    FROM restosync_snapshot_sent_keys(%(vendor_id)s, 'stock', %(snapshot_id)s)
), missing AS (
    SELECT s.id
    FROM stock AS s
    JOIN items AS i ON i.id = s.item_id
    JOIN warehouses AS w ON w.id = s.warehouse_id
    WHERE s.vendor_id = %(vendor_id)s
      AND NOT (s.real_stock = 0 AND s.virtual_stock = 0 AND s.reserved_quantity = 0
               AND s.ordered_quantity = 0 AND s.incoming_quantity = 0
               AND coalesce(s.stock_value, 0) = 0)
      AND s.created_at < (
          SELECT restosync_snapshot_started_at(%(vendor_id)s, 'stock', %(snapshot_id)s)
      )
      AND NOT EXISTS (SELECT 1 FROM sent WHERE sent.key = i.sku || '|' || w.erp_warehouse_id)
    ORDER BY s.warehouse_id, s.item_id
    FOR NO KEY UPDATE OF s
)
UPDATE stock AS s
SET real_stock = 0, virtual_stock = 0, reserved_quantity = 0, ordered_quantity = 0,
    incoming_quantity = 0, stock_value = 0, content_hash = 'deleted'
FROM missing
WHERE s.id = missing.id
  AND NOT (s.real_stock = 0 AND s.virtual_stock = 0 AND s.reserved_quantity = 0
           AND s.ordered_quantity = 0 AND s.incoming_quantity = 0
           AND coalesce(s.stock_value, 0) = 0)
RETURNING s.item_id
