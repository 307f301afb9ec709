-- depends: 0001.procrastinate-3.10.0
-- restosync core tables (SPEC §2): agents, ERP code mappings, catalog, orders, sync jobs, DLQ, ingest/reconciliation logs, audit, breakers.

-- Conventions used throughout this file
--
-- * Keys: entity tables use `id uuid DEFAULT gen_random_uuid()` (built in since
--   PostgreSQL 13). The three append-only logs (ingest_batches,
--   reconciliation_events, audit_log) use `bigint GENERATED ALWAYS AS IDENTITY`:
--   nothing references them, they are written at high rate, read newest first
--   and purged by time, so a small, insertion-ordered key is the better fit.
--   circuit_breakers has the natural key (vendor_id, api_type).
-- * vendor_id is an opaque text of 1..100 characters (not a UUID). Data tables
--   have no foreign key to agent_registry: mappings and catalog rows may exist
--   before an agent registers and outlive its deregistration.
-- * Enumerations are text + CHECK (extend them in a later migration with
--   ALTER TABLE ... DROP CONSTRAINT / ADD CONSTRAINT), not PostgreSQL enums.
-- * Money and quantities are numeric, never float.
-- * Unique constraints are named uq_<table>_<columns>, indexes ix_<table>_<columns>,
--   table-level checks ck_<table>_<rule>; single-column checks keep PostgreSQL's
--   default names (<table>_<column>_check).
-- * String length limits match the SPEC §4.2 payload limits (sku/erpId 100,
--   name 255, codes 50, contentHash 64). The database is never stricter than the
--   request validation, so a row that passes validation cannot fail a whole
--   ingest transaction on a CHECK.
-- * Row keys compared by reconciliation (items.sku, warehouses.erp_warehouse_id)
--   are COLLATE "C": SPEC §5.3 compares keys byte-wise, and this lets the
--   unique indexes serve ordered/ranged scans without a second index.


-- updated_at maintenance -----------------------------------------------------

CREATE FUNCTION restosync_touch_updated_at()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION restosync_touch_updated_at() IS
    'BEFORE UPDATE trigger function: sets NEW.updated_at to now() (transaction time). Attached as trg_<table>_touch_updated_at to every table with an updated_at column.';


-- agent_registry --------------------------------------------------------------

CREATE TABLE agent_registry (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    agent_url text NOT NULL CHECK (agent_url ~* '^https?://' AND char_length(agent_url) <= 2048),
    erp_type text NOT NULL CHECK (erp_type IN ('ebp', 'sage', 'odoo', 'custom')),
    status text NOT NULL DEFAULT 'online'
        CHECK (status IN ('online', 'degraded', 'offline', 'deregistered')),
    last_heartbeat timestamptz NOT NULL DEFAULT now(),
    version text CHECK (char_length(version) <= 50),
    auth_token_hash text NOT NULL CHECK (auth_token_hash LIKE '$2%'),
    outbound_secret text NOT NULL CHECK (char_length(outbound_secret) >= 32),
    deregistered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_agent_registry_vendor_id UNIQUE (vendor_id),
    CONSTRAINT ck_agent_registry_deregistered
        CHECK ((status = 'deregistered') = (deregistered_at IS NOT NULL))
);

CREATE INDEX ix_agent_registry_last_heartbeat ON agent_registry (last_heartbeat);
CREATE INDEX ix_agent_registry_status ON agent_registry (status);

CREATE TRIGGER trg_agent_registry_touch_updated_at
    BEFORE UPDATE ON agent_registry
    FOR EACH ROW EXECUTE FUNCTION restosync_touch_updated_at();

COMMENT ON TABLE agent_registry IS
    'One row per vendor agent (the on-premises process next to the vendor ERP). Written by POST /api/agents/register and /heartbeat, PUT/DELETE /api/admin/agents, and the agent-health periodic task.';
COMMENT ON COLUMN agent_registry.vendor_id IS
    'Opaque vendor identifier (1..100 chars, not necessarily a UUID). One agent per vendor.';
COMMENT ON COLUMN agent_registry.agent_url IS
    'Base URL restosync POSTs to (http or https), e.g. {agent_url}/sync/create-order.';
COMMENT ON COLUMN agent_registry.erp_type IS
    'ERP behind the agent: ebp, sage, odoo, custom.';
COMMENT ON COLUMN agent_registry.status IS
    'Last persisted health status: online, degraded, offline, deregistered. Written by the agent-health task on transitions; readers must derive the live status from last_heartbeat (see view v_agent_health), this column can lag by up to a minute.';
COMMENT ON COLUMN agent_registry.last_heartbeat IS
    'Time of the last heartbeat (registration counts as one). degraded after 60 s without one, offline after 300 s (HEARTBEAT_DEGRADED_SECONDS / HEARTBEAT_OFFLINE_SECONDS).';
COMMENT ON COLUMN agent_registry.version IS
    'Agent software version as reported at registration/heartbeat.';
COMMENT ON COLUMN agent_registry.auth_token_hash IS
    'bcrypt hash (cost >= 10) of the token the agent presents as Bearer. Never the token itself; never returned by any API.';
COMMENT ON COLUMN agent_registry.outbound_secret IS
    'Per-agent secret restosync presents as Bearer and uses as HMAC-SHA256 key when calling this agent (SPEC §5.3). Stored in clear because signing needs it; replaced on every registration. Never log it, never return it except in the registration answer.';
COMMENT ON COLUMN agent_registry.deregistered_at IS
    'Set when the agent is deregistered (then status = deregistered, enforced by ck_agent_registry_deregistered); its token is refused from that moment.';


-- erp_code_mappings ------------------------------------------------------------

CREATE TABLE erp_code_mappings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    mapping_type text NOT NULL CHECK (mapping_type IN ('unit', 'vat', 'family', 'subfamily')),
    erp_code text NOT NULL CHECK (char_length(erp_code) BETWEEN 1 AND 50),
    resto_code text NOT NULL CHECK (char_length(resto_code) BETWEEN 1 AND 50),
    resto_label text CHECK (char_length(resto_label) <= 255),
    vat_rate numeric CHECK (vat_rate BETWEEN 0 AND 100),
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_erp_code_mappings_vendor_id_mapping_type_erp_code
        UNIQUE (vendor_id, mapping_type, erp_code),
    CONSTRAINT ck_erp_code_mappings_vat_rate
        CHECK ((mapping_type = 'vat') = (vat_rate IS NOT NULL))
);

CREATE TRIGGER trg_erp_code_mappings_touch_updated_at
    BEFORE UPDATE ON erp_code_mappings
    FOR EACH ROW EXECUTE FUNCTION restosync_touch_updated_at();

COMMENT ON TABLE erp_code_mappings IS
    'Translation of a vendor ERP code (unit, VAT, family, subfamily) to the marketplace code and label. Written by the /api/admin/mappings endpoints (CRUD and bulk seed) or by a DBA; read by ingest (one query per request, cached in process for 5 min).';
COMMENT ON COLUMN erp_code_mappings.mapping_type IS
    'What the code means: unit, vat, family, subfamily.';
COMMENT ON COLUMN erp_code_mappings.erp_code IS
    'Code as the ERP sends it (items.erp_unit_code, erp_vat_code, erp_family_code, erp_subfamily_code).';
COMMENT ON COLUMN erp_code_mappings.resto_code IS
    'Marketplace code the ERP code maps to (copied to items.unit_code, vat_code, family_code or subfamily_code).';
COMMENT ON COLUMN erp_code_mappings.resto_label IS
    'Marketplace label for resto_code (copied to items.*_label).';
COMMENT ON COLUMN erp_code_mappings.vat_rate IS
    'VAT rate in percent (20 = 20 %). Required for mapping_type vat, NULL for every other type (ck_erp_code_mappings_vat_rate).';
COMMENT ON COLUMN erp_code_mappings.is_active IS
    'An inactive mapping resolves like a missing one (rows using it are rejected as unmapped).';


-- warehouses ------------------------------------------------------------------

CREATE TABLE warehouses (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    erp_warehouse_id text COLLATE "C" NOT NULL CHECK (char_length(erp_warehouse_id) BETWEEN 1 AND 100),
    code text NOT NULL CHECK (char_length(code) BETWEEN 1 AND 50),
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    address text,
    city text,
    postal_code text,
    state text,
    country text CHECK (country ~ '^[A-Za-z]{2}$'),
    latitude numeric CHECK (latitude BETWEEN -90 AND 90),
    longitude numeric CHECK (longitude BETWEEN -180 AND 180),
    is_active boolean NOT NULL DEFAULT true,
    is_main boolean NOT NULL DEFAULT false,
    is_default boolean NOT NULL DEFAULT false,
    type smallint NOT NULL DEFAULT 0 CHECK (type IN (0, 1)),
    multi_location_enabled boolean NOT NULL DEFAULT false,
    last_inventory_date timestamptz,
    content_hash text NOT NULL CHECK (char_length(content_hash) BETWEEN 1 AND 64),
    last_synced_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_warehouses_vendor_id_erp_warehouse_id UNIQUE (vendor_id, erp_warehouse_id),
    CONSTRAINT uq_warehouses_vendor_id_code UNIQUE (vendor_id, code)
);

-- At most one default warehouse per vendor.
CREATE UNIQUE INDEX uq_warehouses_vendor_id_is_default ON warehouses (vendor_id) WHERE is_default;

CREATE TRIGGER trg_warehouses_touch_updated_at
    BEFORE UPDATE ON warehouses
    FOR EACH ROW EXECUTE FUNCTION restosync_touch_updated_at();

COMMENT ON TABLE warehouses IS
    'Vendor warehouses as pushed by the agent (POST /api/sync/warehouses[/batch]). A tombstone (deleted: true) sets is_active = false; rows are never deleted by ingest.';
COMMENT ON COLUMN warehouses.erp_warehouse_id IS
    'Warehouse id in the ERP (the sync key; stock rows name it as erpWarehouseId). COLLATE "C": keys compare byte-wise.';
COMMENT ON COLUMN warehouses.code IS
    'Warehouse code in the ERP, unique per vendor.';
COMMENT ON COLUMN warehouses.country IS
    'ISO 3166-1 alpha-2 country code as sent (2 letters).';
COMMENT ON COLUMN warehouses.is_active IS
    'false when the ERP deactivated the warehouse or a tombstone (deleted: true) arrived.';
COMMENT ON COLUMN warehouses.is_main IS
    'ERP flag: main warehouse of the vendor, as sent by the agent.';
COMMENT ON COLUMN warehouses.is_default IS
    'Marketplace flag: warehouse used when an order names none. At most one per vendor (uq_warehouses_vendor_id_is_default). Not part of the agent payload.';
COMMENT ON COLUMN warehouses.type IS
    'ERP warehouse type: 0 storage, 1 transit.';
COMMENT ON COLUMN warehouses.multi_location_enabled IS
    'ERP flag: the warehouse manages stock by location (bins).';
COMMENT ON COLUMN warehouses.last_inventory_date IS
    'Date of the last physical inventory in the ERP.';
COMMENT ON COLUMN warehouses.content_hash IS
    'Agent-computed hash (<= 64 chars) of the row content. A push with the same hash is skipped without writing.';
COMMENT ON COLUMN warehouses.last_synced_at IS
    'ERP-side time of the row version stored (lastSyncedAt of the payload). A push older than this is rejected as stale_data.';


-- items -----------------------------------------------------------------------

CREATE TABLE items (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    sku text COLLATE "C" NOT NULL CHECK (char_length(sku) BETWEEN 1 AND 100),
    erp_id text CHECK (char_length(erp_id) <= 100),
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    description text,
    slug text NOT NULL CHECK (char_length(slug) BETWEEN 1 AND 400),
    barcode text CHECK (char_length(barcode) <= 100),
    -- ERP codes as sent
    erp_unit_code text NOT NULL CHECK (char_length(erp_unit_code) BETWEEN 1 AND 50),
    erp_vat_code text NOT NULL CHECK (char_length(erp_vat_code) BETWEEN 1 AND 50),
    erp_family_code text CHECK (char_length(erp_family_code) <= 50),
    erp_subfamily_code text CHECK (char_length(erp_subfamily_code) <= 50),
    -- marketplace codes and labels resolved through erp_code_mappings
    unit_code text NOT NULL CHECK (char_length(unit_code) BETWEEN 1 AND 50),
    unit_label text CHECK (char_length(unit_label) <= 255),
    vat_code text NOT NULL CHECK (char_length(vat_code) BETWEEN 1 AND 50),
    vat_label text CHECK (char_length(vat_label) <= 255),
    vat_rate numeric NOT NULL CHECK (vat_rate BETWEEN 0 AND 100),
    family_code text CHECK (char_length(family_code) <= 50),
    family_label text CHECK (char_length(family_label) <= 255),
    subfamily_code text CHECK (char_length(subfamily_code) <= 50),
    subfamily_label text CHECK (char_length(subfamily_label) <= 255),
    -- prices
    unit_price numeric CHECK (unit_price >= 0),
    price_excl_vat numeric CHECK (price_excl_vat >= 0),
    price_incl_vat numeric CHECK (price_incl_vat >= 0),
    vat_amount numeric CHECK (vat_amount >= 0),
    catalog_price numeric CHECK (catalog_price >= 0),
    purchase_price numeric CHECK (purchase_price >= 0),
    minimum_order_quantity numeric CHECK (minimum_order_quantity >= 0),
    currency text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Za-z]{3}$'),
    -- stock behaviour (ERP flags)
    manage_stock boolean NOT NULL DEFAULT true,
    allow_negative_stock boolean NOT NULL DEFAULT false,
    stock_booking_allowed boolean NOT NULL DEFAULT false,
    automatic_stock_booking boolean NOT NULL DEFAULT false,
    tracking_mode text CHECK (char_length(tracking_mode) <= 50),
    pick_movement_disallowed_on_totally_booked_item boolean NOT NULL DEFAULT false,
    -- physical attributes
    weight numeric CHECK (weight >= 0),
    weight_unit text CHECK (char_length(weight_unit) <= 50),
    height numeric CHECK (height >= 0),
    width numeric CHECK (width >= 0),
    length numeric CHECK (length >= 0),
    dimension_unit text CHECK (char_length(dimension_unit) <= 50),
    items_per_package numeric CHECK (items_per_package >= 0),
    -- commerce
    brand text CHECK (char_length(brand) <= 255),
    days_to_ship integer CHECK (days_to_ship >= 0),
    ship_price_ttc numeric CHECK (ship_price_ttc >= 0),
    origin_country_code text CHECK (char_length(origin_country_code) <= 50),
    extra jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(extra) = 'object'),
    is_active boolean NOT NULL DEFAULT true,
    publish_on_web boolean NOT NULL DEFAULT true,
    is_obsolete boolean NOT NULL DEFAULT false,
    -- stock totals, kept equal to the sums over stock
    total_real_stock numeric NOT NULL DEFAULT 0,
    total_virtual_stock numeric NOT NULL DEFAULT 0,
    total_reserved_quantity numeric NOT NULL DEFAULT 0 CHECK (total_reserved_quantity >= 0),
    content_hash text NOT NULL CHECK (char_length(content_hash) BETWEEN 1 AND 64),
    last_synced_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_items_vendor_id_sku UNIQUE (vendor_id, sku)
);

CREATE TRIGGER trg_items_touch_updated_at
    BEFORE UPDATE ON items
    FOR EACH ROW EXECUTE FUNCTION restosync_touch_updated_at();

COMMENT ON TABLE items IS
    'Vendor catalog items as pushed by the agent (POST /api/sync/items[/batch]) or fetched by reconciliation; the ERP always wins. Upserted set-based by ingest; never deleted by it (tombstones and snapshot/reconciliation deletions set is_active = false / is_obsolete = true).';
COMMENT ON COLUMN items.sku IS
    'Vendor SKU, the sync key of an item (unique per vendor). COLLATE "C": reconciliation compares keys byte-wise.';
COMMENT ON COLUMN items.erp_id IS
    'Internal id of the item in the ERP, if different from the SKU.';
COMMENT ON COLUMN items.slug IS
    'URL slug; generated from name + sku (accents folded) when the agent sends none. Not unique.';
COMMENT ON COLUMN items.erp_unit_code IS
    'Unit code as sent by the ERP; unit_code/unit_label are its mapping (erp_code_mappings, type unit). Required: an unmapped one rejects the row (unmapped_unit).';
COMMENT ON COLUMN items.erp_vat_code IS
    'VAT code as sent by the ERP; vat_code/vat_label/vat_rate are its mapping (type vat). Required: an unmapped one rejects the row (unmapped_vat).';
COMMENT ON COLUMN items.erp_family_code IS
    'Family code as sent by the ERP; family_code/family_label are its mapping, NULL when unmapped (optional).';
COMMENT ON COLUMN items.erp_subfamily_code IS
    'Subfamily code as sent by the ERP; subfamily_code/subfamily_label are its mapping, NULL when unmapped (optional).';
COMMENT ON COLUMN items.unit_code IS 'Marketplace unit code, from erp_code_mappings at ingest time.';
COMMENT ON COLUMN items.vat_code IS 'Marketplace VAT code, from erp_code_mappings at ingest time.';
COMMENT ON COLUMN items.vat_rate IS 'VAT rate in percent (20 = 20 %), from the vat mapping at ingest time.';
COMMENT ON COLUMN items.family_code IS 'Marketplace family code, from erp_code_mappings; NULL when the ERP sent none or it is unmapped.';
COMMENT ON COLUMN items.subfamily_code IS 'Marketplace subfamily code, from erp_code_mappings; NULL when the ERP sent none or it is unmapped.';
COMMENT ON COLUMN items.unit_price IS 'Selling price per unit, in currency (numeric, never float).';
COMMENT ON COLUMN items.price_excl_vat IS 'Price excluding VAT (HT).';
COMMENT ON COLUMN items.price_incl_vat IS 'Price including VAT (TTC).';
COMMENT ON COLUMN items.vat_amount IS 'VAT amount of one unit.';
COMMENT ON COLUMN items.catalog_price IS 'List (catalog) price before any customer-specific conditions.';
COMMENT ON COLUMN items.purchase_price IS 'Vendor purchase cost. Internal: do not expose to buyers.';
COMMENT ON COLUMN items.currency IS 'ISO 4217 currency code of every price of the row; EUR when the agent sends none.';
COMMENT ON COLUMN items.manage_stock IS 'ERP flag: stock is tracked for this item.';
COMMENT ON COLUMN items.allow_negative_stock IS 'ERP flag: real/virtual stock may go below zero (why stock quantities carry no >= 0 check).';
COMMENT ON COLUMN items.stock_booking_allowed IS 'ERP flag: stock can be booked (reserved) for orders.';
COMMENT ON COLUMN items.automatic_stock_booking IS 'ERP flag: stock is booked automatically when an order is entered.';
COMMENT ON COLUMN items.tracking_mode IS 'ERP traceability mode as sent (none / lot / serial, or the ERP numeric code).';
COMMENT ON COLUMN items.pick_movement_disallowed_on_totally_booked_item IS 'ERP flag (EBP): no picking movement once the item is totally booked.';
COMMENT ON COLUMN items.minimum_order_quantity IS 'Smallest quantity a buyer may order, in the item unit.';
COMMENT ON COLUMN items.weight IS 'Weight in weight_unit.';
COMMENT ON COLUMN items.length IS 'Length in dimension_unit (height and width likewise).';
COMMENT ON COLUMN items.items_per_package IS 'Number of units per package (packaging multiple).';
COMMENT ON COLUMN items.days_to_ship IS 'Lead time in days before shipping.';
COMMENT ON COLUMN items.ship_price_ttc IS 'Shipping price including VAT.';
COMMENT ON COLUMN items.origin_country_code IS 'Country of origin code as sent by the ERP.';
COMMENT ON COLUMN items.extra IS
    'Rarely-queried e-commerce fields as one JSON object with snake_case keys like the columns: meta_title, meta_description, meta_keywords (absent keys = not sent). Always an object, {} when none.';
COMMENT ON COLUMN items.is_active IS
    'false when the ERP deactivated the item, a tombstone (deleted: true) arrived, or reconciliation / a full snapshot found it missing in the ERP.';
COMMENT ON COLUMN items.publish_on_web IS 'ERP flag: the item may be shown online; true when the agent sends none.';
COMMENT ON COLUMN items.is_obsolete IS
    'true when a full snapshot or reconciliation found the item missing in the ERP (set together with is_active = false).';
COMMENT ON COLUMN items.total_real_stock IS
    'Sum of stock.real_stock over all warehouses of the item; maintained by ingest in the same transaction as the stock change. May be negative (allow_negative_stock).';
COMMENT ON COLUMN items.total_virtual_stock IS
    'Sum of stock.virtual_stock over all warehouses (real - reserved); maintained with the stock rows. May be negative.';
COMMENT ON COLUMN items.total_reserved_quantity IS
    'Sum of stock.reserved_quantity over all warehouses; maintained with the stock rows.';
COMMENT ON COLUMN items.content_hash IS
    'Agent-computed hash (<= 64 chars) of the row content. Same hash on push => skipped (no_changes), no write. Also the per-row input of reconciliation checksums.';
COMMENT ON COLUMN items.last_synced_at IS
    'ERP-side time of the row version stored (lastSyncedAt of the payload). A push older than this is rejected as stale_data.';


-- stock -----------------------------------------------------------------------

CREATE TABLE stock (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    warehouse_id uuid NOT NULL REFERENCES warehouses (id) ON DELETE CASCADE,
    item_id uuid NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    real_stock numeric NOT NULL,
    virtual_stock numeric NOT NULL,
    reserved_quantity numeric NOT NULL CHECK (reserved_quantity >= 0),
    ordered_quantity numeric NOT NULL DEFAULT 0 CHECK (ordered_quantity >= 0),
    incoming_quantity numeric NOT NULL DEFAULT 0 CHECK (incoming_quantity >= 0),
    pump numeric CHECK (pump >= 0),
    stock_value numeric,
    min_stock numeric CHECK (min_stock >= 0),
    max_stock numeric CHECK (max_stock >= 0),
    stock_to_order_threshold numeric CHECK (stock_to_order_threshold >= 0),
    last_synced_from text CHECK (char_length(last_synced_from) <= 100),
    content_hash text NOT NULL CHECK (char_length(content_hash) BETWEEN 1 AND 64),
    last_synced_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_stock_vendor_id_warehouse_id_item_id UNIQUE (vendor_id, warehouse_id, item_id)
);

CREATE INDEX ix_stock_item_id ON stock (item_id);
CREATE INDEX ix_stock_warehouse_id ON stock (warehouse_id);

CREATE TRIGGER trg_stock_touch_updated_at
    BEFORE UPDATE ON stock
    FOR EACH ROW EXECUTE FUNCTION restosync_touch_updated_at();

COMMENT ON TABLE stock IS
    'Stock of one item in one warehouse, as pushed by the agent (POST /api/sync/stock[/batch]) or fetched by reconciliation. Sync key on the wire: itemSku|erpWarehouseId. A tombstone, a full snapshot or reconciliation that finds the row missing in the ERP zeroes the quantities (the row stays). Every change also updates items.total_*.';
COMMENT ON COLUMN stock.warehouse_id IS 'warehouses.id, resolved from the payload erpWarehouseId (unknown => row rejected as unknown_warehouse).';
COMMENT ON COLUMN stock.item_id IS 'items.id, resolved from the payload itemSku (unknown => row rejected as unknown_item).';
COMMENT ON COLUMN stock.real_stock IS 'Physical quantity on hand. May be negative when the item allows negative stock, hence no >= 0 check.';
COMMENT ON COLUMN stock.virtual_stock IS 'Available quantity = real_stock - reserved_quantity (validated to +-0.001 at ingest). May be negative.';
COMMENT ON COLUMN stock.reserved_quantity IS 'Quantity booked for customer orders not yet shipped.';
COMMENT ON COLUMN stock.ordered_quantity IS 'Quantity on open customer orders.';
COMMENT ON COLUMN stock.incoming_quantity IS 'Quantity expected from open supplier orders.';
COMMENT ON COLUMN stock.pump IS 'PUMP (prix unitaire moyen pondere): weighted average unit cost.';
COMMENT ON COLUMN stock.stock_value IS 'Valuation of the stock (typically real_stock * pump); negative when real_stock is.';
COMMENT ON COLUMN stock.min_stock IS 'ERP minimum stock level (alert threshold).';
COMMENT ON COLUMN stock.max_stock IS 'ERP maximum stock level.';
COMMENT ON COLUMN stock.stock_to_order_threshold IS 'Reorder point: below it the ERP proposes a supplier order.';
COMMENT ON COLUMN stock.last_synced_from IS 'Where the agent read the row (ERP instance/source label), as sent.';
COMMENT ON COLUMN stock.content_hash IS
    'Agent-computed hash (<= 64 chars) of the row content. Same hash on push => skipped, no write. Input of reconciliation checksums.';
COMMENT ON COLUMN stock.last_synced_at IS
    'ERP-side time of the row version stored. A push older than this is rejected as stale_data.';


-- orders ----------------------------------------------------------------------

CREATE TABLE orders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    order_number text NOT NULL CHECK (char_length(order_number) BETWEEN 1 AND 100),
    customer_id text CHECK (char_length(customer_id) <= 100),
    customer_email text CHECK (char_length(customer_email) <= 255),
    customer_phone text CHECK (char_length(customer_phone) <= 50),
    erp_customer_code text CHECK (char_length(erp_customer_code) <= 50),
    billing_address jsonb CHECK (jsonb_typeof(billing_address) = 'object'),
    shipping_address jsonb CHECK (jsonb_typeof(shipping_address) = 'object'),
    warehouse_id text CHECK (char_length(warehouse_id) <= 100),
    delivery_date date,
    customer_notes text,
    internal_notes text,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'synced', 'failed', 'cancelled')),
    currency text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal numeric NOT NULL CHECK (subtotal >= 0),
    vat_total numeric NOT NULL CHECK (vat_total >= 0),
    total numeric NOT NULL CHECK (total >= 0),
    erp_reference text,
    erp_status text,
    erp_synced_at timestamptz,
    erp_sync_error text,
    client_key text NOT NULL CHECK (char_length(client_key) BETWEEN 1 AND 128),
    idempotency_key text CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    correlation_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_orders_order_number UNIQUE (order_number),
    CONSTRAINT uq_orders_client_key_idempotency_key UNIQUE (client_key, idempotency_key)
);

CREATE INDEX ix_orders_vendor_id_created_at ON orders (vendor_id, created_at);
CREATE INDEX ix_orders_status_created_at ON orders (status, created_at);

CREATE TRIGGER trg_orders_touch_updated_at
    BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION restosync_touch_updated_at();

COMMENT ON TABLE orders IS
    'Marketplace orders to push to the vendor ERP. Created by POST /api/orders in the same transaction as their order_items, sync_jobs row and procrastinate job; erp_* columns written by the order-sync worker and by agent callbacks. Contains customer PII (email, phone, addresses): never log these columns.';
COMMENT ON COLUMN orders.order_number IS 'Marketplace order number, unique across vendors; generated server-side when the client sends none.';
COMMENT ON COLUMN orders.customer_id IS 'Marketplace customer id (opaque).';
COMMENT ON COLUMN orders.customer_email IS 'PII. Never log.';
COMMENT ON COLUMN orders.customer_phone IS 'PII. Never log.';
COMMENT ON COLUMN orders.erp_customer_code IS 'Customer account code in the vendor ERP, when the marketplace knows it.';
COMMENT ON COLUMN orders.billing_address IS
    'PII. JSON object, camelCase keys as received: name, company, address1, address2, city, zipCode, state, country, phone, email.';
COMMENT ON COLUMN orders.shipping_address IS
    'PII. JSON object, same keys as billing_address.';
COMMENT ON COLUMN orders.warehouse_id IS
    'ERP warehouse id requested by the client (warehouses.erp_warehouse_id, not warehouses.id); deliberately not a foreign key: it is passed through to the ERP as given.';
COMMENT ON COLUMN orders.delivery_date IS 'Requested delivery date (a calendar date, no time zone).';
COMMENT ON COLUMN orders.internal_notes IS 'Notes for the vendor, not shown to the customer.';
COMMENT ON COLUMN orders.status IS
    'pending (created, not yet in the ERP), synced (ERP reference received), failed (sync failed for good, see dead_letter_queue), cancelled.';
COMMENT ON COLUMN orders.subtotal IS 'Sum of order_items.line_subtotal (excluding VAT, after discounts), computed server-side with Decimal.';
COMMENT ON COLUMN orders.vat_total IS 'Sum of order_items.line_vat.';
COMMENT ON COLUMN orders.total IS 'subtotal + vat_total (sum of order_items.line_total).';
COMMENT ON COLUMN orders.erp_reference IS 'Order reference in the vendor ERP, from the agent answer or callback. NULL until synced.';
COMMENT ON COLUMN orders.erp_status IS 'Order status as last reported by the ERP (free text, ERP-specific).';
COMMENT ON COLUMN orders.erp_synced_at IS 'When the ERP reference was received.';
COMMENT ON COLUMN orders.erp_sync_error IS 'Last sync error message (no secrets, no PII).';
COMMENT ON COLUMN orders.client_key IS
    'Fingerprint of the X-API-Key that created the order (a hash prefix, never the key). Scopes idempotency_key.';
COMMENT ON COLUMN orders.idempotency_key IS
    'Idempotency-Key header of the creating request; unique per client_key (uq_orders_client_key_idempotency_key). NULL when the client sent none.';
COMMENT ON COLUMN orders.correlation_id IS 'X-Correlation-ID of the creating request; also on its sync_jobs row and in every log line.';


-- order_items -----------------------------------------------------------------

CREATE TABLE order_items (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_number integer NOT NULL CHECK (line_number >= 1),
    sku text NOT NULL CHECK (char_length(sku) BETWEEN 1 AND 100),
    item_id uuid REFERENCES items (id) ON DELETE SET NULL,
    description text,
    quantity numeric NOT NULL CHECK (quantity > 0),
    unit_price numeric NOT NULL CHECK (unit_price >= 0),
    vat_rate numeric CHECK (vat_rate BETWEEN 0 AND 100),
    discount_rate numeric CHECK (discount_rate BETWEEN 0 AND 100),
    unit_code text CHECK (char_length(unit_code) <= 50),
    line_subtotal numeric NOT NULL CHECK (line_subtotal >= 0),
    line_vat numeric NOT NULL CHECK (line_vat >= 0),
    line_total numeric NOT NULL CHECK (line_total >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_order_items_order_id_line_number UNIQUE (order_id, line_number)
);

CREATE INDEX ix_order_items_item_id ON order_items (item_id);

COMMENT ON TABLE order_items IS
    'Lines of an order (1..500), written once with the order by POST /api/orders; immutable afterwards.';
COMMENT ON COLUMN order_items.line_number IS '1-based position of the line in the order, as sent.';
COMMENT ON COLUMN order_items.sku IS 'Vendor SKU as ordered (kept even if the item disappears).';
COMMENT ON COLUMN order_items.item_id IS 'items.id matching (order vendor, sku) at creation time, if any; set to NULL if the item row is deleted.';
COMMENT ON COLUMN order_items.vat_rate IS 'VAT rate in percent (20 = 20 %).';
COMMENT ON COLUMN order_items.discount_rate IS 'Line discount in percent (10 = 10 % off).';
COMMENT ON COLUMN order_items.line_subtotal IS 'quantity * unit_price after discount, excluding VAT (computed server-side with Decimal).';
COMMENT ON COLUMN order_items.line_vat IS 'VAT of the line.';
COMMENT ON COLUMN order_items.line_total IS 'line_subtotal + line_vat.';


-- sync_jobs -------------------------------------------------------------------

CREATE TABLE sync_jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    operation text NOT NULL CHECK (operation ~ '^[a-z][a-z0-9_]{0,49}$'),
    postgres_order_id uuid REFERENCES orders (id) ON DELETE SET NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'awaiting_callback', 'completed', 'failed', 'dead')),
    payload jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL CHECK (max_attempts >= 1),
    next_retry_at timestamptz,
    error_message text,
    error_stack text,
    erp_reference text,
    procrastinate_job_id bigint,
    correlation_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    completed_at timestamptz,
    expires_at timestamptz
);

CREATE INDEX ix_sync_jobs_status_next_retry_at ON sync_jobs (status, next_retry_at);
CREATE INDEX ix_sync_jobs_vendor_id_status_created_at ON sync_jobs (vendor_id, status, created_at);
CREATE INDEX ix_sync_jobs_created_at ON sync_jobs (created_at);
CREATE INDEX ix_sync_jobs_expires_at ON sync_jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX ix_sync_jobs_postgres_order_id ON sync_jobs (postgres_order_id);
CREATE INDEX ix_sync_jobs_procrastinate_job_id ON sync_jobs (procrastinate_job_id)
    WHERE procrastinate_job_id IS NOT NULL;

COMMENT ON TABLE sync_jobs IS
    'Business record of one outbound operation to a vendor agent (today: create_order). Created with its order and procrastinate job in one transaction; updated by the order-sync worker, agent callbacks and the periodic sweeps. The Idempotency-Key sent to the agent is sync_jobs.id.';
COMMENT ON COLUMN sync_jobs.operation IS
    'What to do on the agent: create_order (snake_case; new operations need no migration).';
COMMENT ON COLUMN sync_jobs.postgres_order_id IS 'orders.id this job pushes (NULL for operations without an order, or if the order was deleted).';
COMMENT ON COLUMN sync_jobs.status IS
    'pending (queued, or waiting for a retry/postponement), processing (call in flight), awaiting_callback (agent answered 202, callback expected), completed (ERP reference received), failed (the operation failed, see error_message), dead (failed for good and recorded in dead_letter_queue).';
COMMENT ON COLUMN sync_jobs.payload IS
    'JSON object sent to the agent (for create_order: {syncJobId, orderId, orderData}); enough to re-run the operation.';
COMMENT ON COLUMN sync_jobs.attempts IS
    'Calls made to the agent so far (a callback timeout counts as one; a postponement while the breaker is open or the agent offline does not).';
COMMENT ON COLUMN sync_jobs.max_attempts IS
    'Attempt budget fixed at creation (ORDER_SYNC_MAX_ATTEMPTS, default 5).';
COMMENT ON COLUMN sync_jobs.next_retry_at IS
    'Earliest time of the next attempt after a transient failure or a postponement (backoff base * 2^(attempt-1)); NULL when none is planned.';
COMMENT ON COLUMN sync_jobs.error_message IS 'Last error, short and free of secrets/PII.';
COMMENT ON COLUMN sync_jobs.error_stack IS 'Stack trace or agent error detail of the last error.';
COMMENT ON COLUMN sync_jobs.erp_reference IS 'ERP reference returned by the agent (also copied to orders.erp_reference).';
COMMENT ON COLUMN sync_jobs.procrastinate_job_id IS
    'procrastinate_jobs.id of the latest queue job for this row. Deliberately no foreign key: procrastinate finished jobs are pruned independently.';
COMMENT ON COLUMN sync_jobs.correlation_id IS 'X-Correlation-ID of the request that caused the job; carried into every log line of the job.';
COMMENT ON COLUMN sync_jobs.started_at IS 'Start of the latest attempt.';
COMMENT ON COLUMN sync_jobs.completed_at IS 'When the job reached a final state (completed, failed, dead).';
COMMENT ON COLUMN sync_jobs.expires_at IS
    'When the row becomes eligible for the daily cleanup (retention: completed 24 h, failed/pending 7 days). NULL = not eligible. Cleanup must still skip live jobs and jobs a dead_letter_queue row references (FKs are ON DELETE RESTRICT).';


-- dead_letter_queue -----------------------------------------------------------

CREATE TABLE dead_letter_queue (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    original_job_id uuid REFERENCES sync_jobs (id) ON DELETE RESTRICT,
    procrastinate_job_id bigint,
    task_name text NOT NULL CHECK (char_length(task_name) BETWEEN 1 AND 128),
    queue text NOT NULL CHECK (char_length(queue) BETWEEN 1 AND 128),
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    operation text NOT NULL CHECK (operation ~ '^[a-z][a-z0-9_]{0,49}$'),
    payload jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    failure_reason text NOT NULL,
    failure_stack text,
    attempt_count integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    last_attempt_at timestamptz,
    resolved boolean NOT NULL DEFAULT false,
    resolved_at timestamptz,
    resolved_by text CHECK (char_length(resolved_by) <= 128),
    resolution text CHECK (resolution IN ('retried', 'resolved')),
    retry_job_id uuid REFERENCES sync_jobs (id) ON DELETE RESTRICT,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_dead_letter_queue_procrastinate_job_id UNIQUE (procrastinate_job_id),
    CONSTRAINT uq_dead_letter_queue_retry_job_id UNIQUE (retry_job_id),
    CONSTRAINT ck_dead_letter_queue_resolved_at CHECK (resolved = (resolved_at IS NOT NULL)),
    CONSTRAINT ck_dead_letter_queue_resolution CHECK (resolved = (resolution IS NOT NULL))
);

CREATE INDEX ix_dead_letter_queue_original_job_id ON dead_letter_queue (original_job_id);
CREATE INDEX ix_dead_letter_queue_open_created_at ON dead_letter_queue (created_at) WHERE NOT resolved;
CREATE INDEX ix_dead_letter_queue_open_vendor_id_created_at ON dead_letter_queue (vendor_id, created_at) WHERE NOT resolved;
CREATE INDEX ix_dead_letter_queue_resolved_at ON dead_letter_queue (resolved_at) WHERE resolved;

COMMENT ON TABLE dead_letter_queue IS
    'Work that failed for good, with enough to re-run it. Inserted by SQL in the same transaction as the final state change of the job; resolved by POST /api/admin/dlq/{id}/retry|resolve. Unresolved entries are kept forever, resolved ones 30 days.';
COMMENT ON COLUMN dead_letter_queue.original_job_id IS
    'sync_jobs row that failed (NULL for a task without a sync_jobs row). ON DELETE RESTRICT: retention must never delete a job a DLQ entry points to.';
COMMENT ON COLUMN dead_letter_queue.procrastinate_job_id IS
    'procrastinate_jobs.id of the failed queue job; unique, so one DLQ entry per procrastinate job (insert with ON CONFLICT DO NOTHING). No foreign key: procrastinate jobs are pruned.';
COMMENT ON COLUMN dead_letter_queue.task_name IS 'procrastinate task name of the failed job.';
COMMENT ON COLUMN dead_letter_queue.queue IS 'procrastinate queue of the failed job (e.g. order-sync).';
COMMENT ON COLUMN dead_letter_queue.operation IS 'sync_jobs.operation of the failed work (e.g. create_order).';
COMMENT ON COLUMN dead_letter_queue.payload IS 'JSON object with everything needed to re-run the work (the sync_jobs payload).';
COMMENT ON COLUMN dead_letter_queue.failure_reason IS 'Final error message (no secrets/PII).';
COMMENT ON COLUMN dead_letter_queue.failure_stack IS 'Stack trace or agent error detail of the final error.';
COMMENT ON COLUMN dead_letter_queue.attempt_count IS 'Attempts made before giving up.';
COMMENT ON COLUMN dead_letter_queue.last_attempt_at IS 'Start of the last attempt before giving up.';
COMMENT ON COLUMN dead_letter_queue.resolved IS
    'false = open (needs an admin). true once retried or resolved; resolved_at and resolution are set exactly when resolved is true (ck_dead_letter_queue_resolved_at, ck_dead_letter_queue_resolution).';
COMMENT ON COLUMN dead_letter_queue.resolved_by IS 'Fingerprint of the admin key that resolved the entry (never the key).';
COMMENT ON COLUMN dead_letter_queue.resolved_at IS 'When the entry was retried or resolved; resolved entries are deleted 30 days after it.';
COMMENT ON COLUMN dead_letter_queue.resolution IS
    'retried (a new sync job was created, see retry_job_id) or resolved (closed without re-running).';
COMMENT ON COLUMN dead_letter_queue.retry_job_id IS
    'sync_jobs row created by the retry; unique, so one entry is retried at most once. ON DELETE RESTRICT like original_job_id.';


-- reconciliation_events -------------------------------------------------------

CREATE TABLE reconciliation_events (
    id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    event_type text NOT NULL
        CHECK (event_type IN ('full_checksum', 'drift_detected', 'drift_resolved', 'error')),
    entity text CHECK (entity IN ('items', 'stock')),
    summary jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(summary) = 'object'),
    details text,
    timestamp timestamptz NOT NULL DEFAULT now(),
    duration_ms integer CHECK (duration_ms >= 0),
    correlation_id text
);

CREATE INDEX ix_reconciliation_events_vendor_id_timestamp ON reconciliation_events (vendor_id, timestamp);
CREATE INDEX ix_reconciliation_events_timestamp ON reconciliation_events (timestamp);

COMMENT ON TABLE reconciliation_events IS
    'Log of reconciliation runs (hourly per active vendor, or triggered by an admin): one or more events per run and entity. Append-only (bigint identity key); kept 30 days by the weekly cleanup.';
COMMENT ON COLUMN reconciliation_events.event_type IS
    'full_checksum (whole key space compared, no drift), drift_detected (checksums differ; drifted keys in summary), drift_resolved (drift fixed; fixes in summary), error (run failed; message in details).';
COMMENT ON COLUMN reconciliation_events.entity IS 'items or stock; NULL for an event about the whole run.';
COMMENT ON COLUMN reconciliation_events.summary IS
    'JSON object: checksums and counts of both sides, drifted keys, fixes applied, agent calls made.';
COMMENT ON COLUMN reconciliation_events.details IS 'Free-text detail, e.g. the error message of an error event.';
COMMENT ON COLUMN reconciliation_events.timestamp IS 'When the event was recorded.';
COMMENT ON COLUMN reconciliation_events.duration_ms IS 'Duration of the run step in milliseconds.';


-- ingest_batches --------------------------------------------------------------

CREATE TABLE ingest_batches (
    id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    entity text NOT NULL CHECK (entity IN ('items', 'stock', 'warehouses')),
    mode text NOT NULL CHECK (mode IN ('incremental', 'batch')),
    received_count integer NOT NULL CHECK (received_count >= 0),
    processed_count integer NOT NULL CHECK (processed_count >= 0),
    skipped_count integer NOT NULL CHECK (skipped_count >= 0),
    failed_count integer NOT NULL CHECK (failed_count >= 0),
    bytes bigint NOT NULL CHECK (bytes >= 0),
    duration_ms integer NOT NULL CHECK (duration_ms >= 0),
    correlation_id text,
    snapshot_id text CHECK (char_length(snapshot_id) BETWEEN 1 AND 100),
    snapshot_page integer CHECK (snapshot_page >= 0),
    snapshot_last boolean,
    snapshot_keys text[],
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_ingest_batches_snapshot CHECK (
        snapshot_id IS NOT NULL
        OR (snapshot_page IS NULL AND snapshot_last IS NULL AND snapshot_keys IS NULL)
    ),
    CONSTRAINT ck_ingest_batches_snapshot_mode CHECK (snapshot_id IS NULL OR mode = 'batch')
);

CREATE INDEX ix_ingest_batches_vendor_id_created_at ON ingest_batches (vendor_id, created_at);
CREATE INDEX ix_ingest_batches_created_at ON ingest_batches (created_at);
CREATE INDEX ix_ingest_batches_vendor_id_entity_snapshot_id ON ingest_batches (vendor_id, entity, snapshot_id)
    WHERE snapshot_id IS NOT NULL;

COMMENT ON TABLE ingest_batches IS
    'One row per committed ingest request (POST /api/sync/*), written in the request transaction. Dry runs roll back and leave no row. Append-only (bigint identity key).';
COMMENT ON COLUMN ingest_batches.entity IS 'items, stock or warehouses.';
COMMENT ON COLUMN ingest_batches.mode IS 'incremental (POST /api/sync/{entity}, <= 500 rows) or batch (/batch, <= 5000 rows, may carry a snapshot).';
COMMENT ON COLUMN ingest_batches.received_count IS 'Rows in the request; every row ends processed, skipped or failed, so received = processed + skipped + failed.';
COMMENT ON COLUMN ingest_batches.processed_count IS 'Rows written (inserted or updated).';
COMMENT ON COLUMN ingest_batches.skipped_count IS 'Rows not written: no_changes (same content_hash) or duplicate_in_request.';
COMMENT ON COLUMN ingest_batches.failed_count IS 'Rows rejected (invalid, stale_data, unmapped_*, unknown_*); see ingest_rejections.';
COMMENT ON COLUMN ingest_batches.bytes IS 'Request body size in bytes.';
COMMENT ON COLUMN ingest_batches.duration_ms IS 'Server-side processing time in milliseconds.';
COMMENT ON COLUMN ingest_batches.snapshot_id IS 'Full-snapshot id sent by the agent (batch mode only); all pages of one snapshot share it.';
COMMENT ON COLUMN ingest_batches.snapshot_page IS 'Page number within the snapshot, as sent.';
COMMENT ON COLUMN ingest_batches.snapshot_last IS 'true on the last page: its commit defers the job that deactivates/zeroes rows absent from the snapshot.';
COMMENT ON COLUMN ingest_batches.snapshot_keys IS
    'Snapshot pages only: every row key the page carried, whatever its outcome (sku, itemSku|erpWarehouseId, or erpWarehouseId). Rows skipped as unchanged are not written, so this is how the deletion-detection job knows what the snapshot contained.';


-- ingest_rejections -----------------------------------------------------------

CREATE TABLE ingest_rejections (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    entity text NOT NULL CHECK (entity IN ('items', 'stock', 'warehouses')),
    row_key text NOT NULL CHECK (char_length(row_key) BETWEEN 1 AND 255),
    reason text NOT NULL CHECK (reason IN (
        'invalid', 'stale_data', 'unmapped_unit', 'unmapped_vat', 'unknown_item', 'unknown_warehouse'
    )),
    detail text,
    raw_row jsonb NOT NULL CHECK (jsonb_typeof(raw_row) = 'object'),
    blocked_by_type text
        CHECK (blocked_by_type IN ('unit', 'vat', 'family', 'subfamily', 'item', 'warehouse')),
    blocked_by_code text CHECK (char_length(blocked_by_code) BETWEEN 1 AND 100),
    correlation_id text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    seen_count integer NOT NULL DEFAULT 1 CHECK (seen_count >= 1),
    CONSTRAINT uq_ingest_rejections_vendor_id_entity_row_key UNIQUE (vendor_id, entity, row_key),
    CONSTRAINT ck_ingest_rejections_blocked_by CHECK ((blocked_by_type IS NULL) = (blocked_by_code IS NULL))
);

CREATE INDEX ix_ingest_rejections_vendor_id_blocked_by_type_blocked_by_code
    ON ingest_rejections (vendor_id, blocked_by_type, blocked_by_code)
    WHERE blocked_by_code IS NOT NULL;

COMMENT ON TABLE ingest_rejections IS
    'Latest rejected version of each row per (vendor_id, entity, row_key), written by ingest in the request transaction and deleted when that row later lands. Rows blocked by a missing mapping or an unknown item/warehouse are replayed by a job when the blocker appears (or by POST /api/admin/rejections/replay).';
COMMENT ON COLUMN ingest_rejections.entity IS 'items, stock or warehouses.';
COMMENT ON COLUMN ingest_rejections.row_key IS 'Sync key of the row: sku (items), itemSku|erpWarehouseId (stock), erpWarehouseId (warehouses).';
COMMENT ON COLUMN ingest_rejections.reason IS
    'Reason code of the latest rejection: invalid, stale_data, unmapped_unit, unmapped_vat, unknown_item, unknown_warehouse.';
COMMENT ON COLUMN ingest_rejections.detail IS 'Human-readable detail (field errors for invalid).';
COMMENT ON COLUMN ingest_rejections.raw_row IS 'The row exactly as the agent sent it (camelCase JSON object), replayed through the ingest pipeline.';
COMMENT ON COLUMN ingest_rejections.blocked_by_type IS
    'What must appear for the row to land: unit, vat, family, subfamily (a mapping of that type), item or warehouse. NULL when nothing specific blocks it (invalid, stale_data).';
COMMENT ON COLUMN ingest_rejections.blocked_by_code IS
    'The missing ERP code (mapping erp_code), item SKU or erp_warehouse_id; set exactly when blocked_by_type is.';
COMMENT ON COLUMN ingest_rejections.correlation_id IS 'X-Correlation-ID of the latest rejecting request.';
COMMENT ON COLUMN ingest_rejections.first_seen_at IS 'First rejection of this row key (kept across re-rejections).';
COMMENT ON COLUMN ingest_rejections.last_seen_at IS 'Latest rejection of this row key.';
COMMENT ON COLUMN ingest_rejections.seen_count IS 'How many times this row key was rejected since first_seen_at.';


-- audit_log -------------------------------------------------------------------

CREATE TABLE audit_log (
    id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    actor text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 128),
    action text NOT NULL CHECK (char_length(action) BETWEEN 1 AND 100),
    target_type text CHECK (char_length(target_type) <= 50),
    target_id text CHECK (char_length(target_id) <= 255),
    details jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    correlation_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ix_audit_log_created_at ON audit_log (created_at);
CREATE INDEX ix_audit_log_target_type_target_id ON audit_log (target_type, target_id);

COMMENT ON TABLE audit_log IS
    'Every admin mutation (/api/admin/*), written in the same transaction as the change. Append-only (bigint identity key).';
COMMENT ON COLUMN audit_log.actor IS
    'Fingerprint of the API key that made the change (e.g. a SHA-256 prefix), never the key itself.';
COMMENT ON COLUMN audit_log.action IS 'What was done, e.g. dlq.retry, dlq.resolve, mapping.create, agent.deregister, breaker.reset.';
COMMENT ON COLUMN audit_log.target_type IS 'Kind of object changed, e.g. agent, mapping, dlq_entry, circuit_breaker; NULL for bulk actions.';
COMMENT ON COLUMN audit_log.target_id IS 'Id of the object changed (uuid or vendor_id as text).';
COMMENT ON COLUMN audit_log.details IS 'JSON object: request parameters and before/after values. Never secrets, tokens or PII.';


-- circuit_breakers ------------------------------------------------------------

CREATE TABLE circuit_breakers (
    vendor_id text NOT NULL CHECK (char_length(vendor_id) BETWEEN 1 AND 100),
    api_type text NOT NULL CHECK (char_length(api_type) BETWEEN 1 AND 50),
    state text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    failure_count integer NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
    opened_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vendor_id, api_type),
    CONSTRAINT ck_circuit_breakers_opened_at CHECK (state = 'closed' OR opened_at IS NOT NULL)
);

CREATE INDEX ix_circuit_breakers_state ON circuit_breakers (state);

CREATE TRIGGER trg_circuit_breakers_touch_updated_at
    BEFORE UPDATE ON circuit_breakers
    FOR EACH ROW EXECUTE FUNCTION restosync_touch_updated_at();

COMMENT ON TABLE circuit_breakers IS
    'Shared view of the per-process circuit breakers (aiobreaker) calling agents, one row per (vendor_id, api_type). Written on every breaker transition by the workers; reset by POST /api/admin/circuit-breaker/reset.';
COMMENT ON COLUMN circuit_breakers.api_type IS 'Agent API the breaker guards, e.g. create_order, checksum, manifest, items, stock.';
COMMENT ON COLUMN circuit_breakers.state IS
    'closed (calls flow), open (calls fail fast, after 5 consecutive failures), half_open (one trial call allowed, 60 s after opening).';
COMMENT ON COLUMN circuit_breakers.failure_count IS 'Consecutive failures counted by the breaker; reset to 0 on success.';
COMMENT ON COLUMN circuit_breakers.opened_at IS 'When the breaker last opened; required while open or half_open.';
