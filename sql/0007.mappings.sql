-- depends: 0006.alerts
-- ERP code mappings: cross-process cache invalidation, and the indexes of the admin lists.

-- Every process caches resolved mappings per vendor. Any write to erp_code_mappings,
-- by the API or by a DBA in plain SQL, must drop that vendor's entries everywhere:
-- NOTIFY at commit (PostgreSQL folds identical notifications of one transaction, so a
-- bulk seed sends one per vendor).
CREATE FUNCTION restosync_notify_mappings_changed()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('restosync_mappings', OLD.vendor_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('restosync_mappings', NEW.vendor_id);
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION restosync_notify_mappings_changed() IS
    'AFTER INSERT/UPDATE/DELETE trigger on erp_code_mappings: NOTIFY restosync_mappings with the vendor id, so every process drops that vendor''s cached mappings at commit.';

CREATE TRIGGER trg_erp_code_mappings_changed
    AFTER INSERT OR UPDATE OR DELETE ON erp_code_mappings
    FOR EACH ROW
    EXECUTE FUNCTION restosync_notify_mappings_changed();

-- Admin lists filter by type within a vendor (the unique index leads with vendor_id,
-- mapping_type, erp_code and serves both).
