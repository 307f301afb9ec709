-- vendor_has_active_agent --
-- Whether the vendor has an agent that is not deregistered (orders need one).
SELECT EXISTS (
    SELECT 1 FROM agent_registry
    WHERE vendor_id = %(vendor_id)s AND deregistered_at IS NULL
) AS active

-- catalog_items_by_sku --
-- The vendor's items among the given SKUs (uses uq_items_vendor_id_sku).
SELECT sku, id, vat_rate, unit_code
FROM items
WHERE vendor_id = %(vendor_id)s AND sku = ANY(%(skus)s::text[])

-- order_by_idempotency_key --
-- The order a client created under an Idempotency-Key, with the fingerprint of its request.
SELECT id, request_fingerprint
FROM orders
WHERE client_key = %(client_key)s AND idempotency_key = %(idempotency_key)s

-- insert_order --
-- A new order; nothing when the client's Idempotency-Key was used already (concurrent twin).
INSERT INTO orders (
    id, vendor_id, order_number, customer_id, customer_email, customer_phone,
    erp_customer_code, billing_address, shipping_address, warehouse_id, delivery_date,
    customer_notes, internal_notes, status, currency, subtotal, vat_total, total,
    client_key, idempotency_key, request_fingerprint, correlation_id
)
VALUES (
    %(id)s, %(vendor_id)s, %(order_number)s, %(customer_id)s, %(customer_email)s,
    %(customer_phone)s, %(erp_customer_code)s, %(billing_address)s, %(shipping_address)s,
    %(warehouse_id)s, %(delivery_date)s, %(customer_notes)s, %(internal_notes)s, 'pending',
    %(currency)s, %(subtotal)s, %(vat_total)s, %(total)s, %(client_key)s, %(idempotency_key)s,
    %(request_fingerprint)s, %(correlation_id)s
)
ON CONFLICT ON CONSTRAINT uq_orders_client_key_idempotency_key DO NOTHING
RETURNING id

-- insert_order_items --
-- All lines of an order in one statement (arrays of equal length, one element per line).
INSERT INTO order_items (
    order_id, line_number, sku, item_id, description, quantity, unit_price, vat_rate,
    discount_rate, unit_code, line_subtotal, line_vat, line_total
)
SELECT %(order_id)s, l.line_number, l.sku, l.item_id, l.description, l.quantity, l.unit_price,
       l.vat_rate, l.discount_rate, l.unit_code, l.line_subtotal, l.line_vat, l.line_total
FROM unnest(
    %(line_numbers)s::integer[], %(skus)s::text[], %(item_ids)s::uuid[], %(descriptions)s::text[],
    %(quantities)s::numeric[], %(unit_prices)s::numeric[], %(vat_rates)s::numeric[],
    %(discount_rates)s::numeric[], %(unit_codes)s::text[], %(line_subtotals)s::numeric[],
    %(line_vats)s::numeric[], %(line_totals)s::numeric[]
) AS l (
    line_number, sku, item_id, description, quantity, unit_price, vat_rate, discount_rate,
    unit_code, line_subtotal, line_vat, line_total
)

-- order_view --
-- One order with the state of its latest sync job (NULL columns when it has none).
SELECT o.id, o.order_number, o.vendor_id, o.status, o.currency, o.customer_id,
       o.customer_email, o.customer_phone, o.erp_customer_code, o.billing_address,
       o.shipping_address, o.warehouse_id, o.delivery_date, o.customer_notes,
       o.internal_notes, o.subtotal, o.vat_total, o.total, o.erp_reference, o.erp_status,
       o.erp_synced_at, o.erp_sync_error, o.correlation_id, o.created_at, o.updated_at,
       j.id AS job_id, j.status AS job_status, j.attempts AS job_attempts,
       j.max_attempts AS job_max_attempts, j.next_retry_at AS job_next_retry_at,
       j.error_message AS job_error_message, j.erp_reference AS job_erp_reference,
       j.created_at AS job_created_at, j.started_at AS job_started_at,
       j.completed_at AS job_completed_at
FROM orders AS o
LEFT JOIN LATERAL (
    SELECT s.id, s.status, s.attempts, s.max_attempts, s.next_retry_at, s.error_message,
           s.erp_reference, s.created_at, s.started_at, s.completed_at
    FROM sync_jobs AS s
    WHERE s.postgres_order_id = o.id
    ORDER BY s.created_at DESC, s.id DESC
    LIMIT 1
) AS j ON true
WHERE o.id = %(order_id)s

-- order_lines --
-- The lines of one order, in order.
SELECT line_number, sku, description, quantity, unit_price, vat_rate, discount_rate,
       unit_code, line_subtotal, line_vat, line_total
FROM order_items
WHERE order_id = %(order_id)s
ORDER BY line_number

-- order_summaries --
-- Orders newest first, optionally of one vendor and/or status, with their latest sync status.
SELECT o.id, o.order_number, o.vendor_id, o.status, o.currency, o.subtotal, o.vat_total,
       o.total AS order_total, o.erp_reference, o.erp_status, o.erp_synced_at, o.created_at,
       j.status AS sync_status,
       count(*) OVER () AS total
FROM orders AS o
LEFT JOIN LATERAL (
    SELECT s.status
    FROM sync_jobs AS s
    WHERE s.postgres_order_id = o.id
    ORDER BY s.created_at DESC, s.id DESC
    LIMIT 1
) AS j ON true
WHERE (%(vendor_id)s::text IS NULL OR o.vendor_id = %(vendor_id)s)
  AND (%(status)s::text IS NULL OR o.status = %(status)s)
ORDER BY o.created_at DESC, o.id DESC
LIMIT %(limit)s OFFSET %(offset)s
