-- depends: 0007.mappings
-- ERP code mappings: TRUNCATE invalidates every process's cache too.

-- The row trigger of 0007 does not fire on TRUNCATE, so a DBA emptying the table would
-- leave every process serving the old mappings until their TTL. A TRUNCATE concerns all
-- vendors: the payload is the empty string, which no vendor id can be (vendor_id is
-- 1..100 characters), and the resolvers read it as "forget every vendor".
CREATE FUNCTION restosync_notify_mappings_truncated()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('restosync_mappings', '');
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION restosync_notify_mappings_truncated() IS
    'AFTER TRUNCATE trigger on erp_code_mappings: NOTIFY restosync_mappings with an empty payload (every vendor), so every process drops all its cached mappings at commit.';

CREATE TRIGGER trg_erp_code_mappings_truncated
    AFTER TRUNCATE ON erp_code_mappings
    FOR EACH STATEMENT
    EXECUTE FUNCTION restosync_notify_mappings_truncated();
