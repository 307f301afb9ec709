-- depends: 0003.dba-views
-- Agents and access: token-cache invalidation across processes, agent health transitions.

-- Every web process caches verified agent tokens in memory. When an agent's token
-- is rotated or the agent is deregistered (by the API or by a DBA in plain SQL),
-- every process must forget it at once: NOTIFY on commit, each process LISTENs.
CREATE FUNCTION restosync_notify_agent_credentials_changed()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('restosync_agent_credentials', OLD.vendor_id);
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION restosync_notify_agent_credentials_changed() IS
    'AFTER UPDATE/DELETE trigger on agent_registry: NOTIFY restosync_agent_credentials with the vendor id when its token hash, deregistration or row changes, so every web process drops its cached token at commit.';

CREATE TRIGGER trg_agent_registry_credentials_changed
    AFTER UPDATE OF auth_token_hash, deregistered_at, vendor_id ON agent_registry
    FOR EACH ROW
    WHEN (OLD.auth_token_hash IS DISTINCT FROM NEW.auth_token_hash
          OR OLD.deregistered_at IS DISTINCT FROM NEW.deregistered_at
          OR OLD.vendor_id IS DISTINCT FROM NEW.vendor_id)
    EXECUTE FUNCTION restosync_notify_agent_credentials_changed();

CREATE TRIGGER trg_agent_registry_credentials_deleted
    AFTER DELETE ON agent_registry
    FOR EACH ROW
    EXECUTE FUNCTION restosync_notify_agent_credentials_changed();


-- Agent health as of now, from the last heartbeat (never stale).
CREATE FUNCTION restosync_agent_health(
    last_heartbeat timestamptz,
    deregistered_at timestamptz,
    degraded_seconds double precision,
    offline_seconds double precision
)
    RETURNS text
    LANGUAGE sql
    STABLE
AS $$
    SELECT CASE
        WHEN deregistered_at IS NOT NULL THEN 'deregistered'
        WHEN last_heartbeat >= now() - make_interval(secs => degraded_seconds) THEN 'online'
        WHEN last_heartbeat >= now() - make_interval(secs => offline_seconds) THEN 'degraded'
        ELSE 'offline'
    END
$$;

COMMENT ON FUNCTION restosync_agent_health(timestamptz, timestamptz, double precision, double precision) IS
    'Live health of an agent: online, degraded (no heartbeat for degraded_seconds), offline (for offline_seconds) or deregistered. Defaults of the service: 60 and 300 seconds (HEARTBEAT_DEGRADED_SECONDS, HEARTBEAT_OFFLINE_SECONDS).';


-- The periodic agent-health task: persist transitions, return them for alerting.
CREATE FUNCTION restosync_persist_agent_health(
    degraded_seconds double precision DEFAULT 60,
    offline_seconds double precision DEFAULT 300
)
    RETURNS TABLE (vendor_id text, previous_status text, status text, last_heartbeat timestamptz)
    LANGUAGE sql
AS $$
    WITH live AS (
        SELECT a.id,
               a.status AS previous_status,
               restosync_agent_health(a.last_heartbeat, a.deregistered_at,
                                      degraded_seconds, offline_seconds) AS status
        FROM agent_registry AS a
        WHERE a.deregistered_at IS NULL
        FOR UPDATE SKIP LOCKED
    )
    UPDATE agent_registry AS a
    SET status = live.status
    FROM live
    WHERE a.id = live.id AND live.status IS DISTINCT FROM live.previous_status
    RETURNING a.vendor_id, live.previous_status, a.status, a.last_heartbeat
$$;

COMMENT ON FUNCTION restosync_persist_agent_health(double precision, double precision) IS
    'Writes agent_registry.status where the live health (restosync_agent_health) differs and returns each transition. Run every minute by the maintenance task; a DBA may run it by hand: SELECT * FROM restosync_persist_agent_health(60, 300).';


-- Agents are listed by status and by last heartbeat; admin lists order by vendor.
CREATE INDEX ix_agent_registry_deregistered_at ON agent_registry (deregistered_at)
    WHERE deregistered_at IS NOT NULL;
