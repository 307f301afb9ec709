-- agent_credentials --
-- What authentication needs of one vendor's agent (hash, deregistration).
SELECT vendor_id, auth_token_hash, deregistered_at
FROM agent_registry
WHERE vendor_id = %(vendor_id)s

-- insert_agent --
-- Enrol a new vendor; returns nothing when the vendor exists already (lost race).
INSERT INTO agent_registry (
    vendor_id, agent_url, erp_type, status, last_heartbeat, version,
    auth_token_hash, outbound_secret
)
VALUES (
    %(vendor_id)s, %(agent_url)s, %(erp_type)s, 'online', now(), %(version)s,
    %(auth_token_hash)s, %(outbound_secret)s
)
ON CONFLICT (vendor_id) DO NOTHING
RETURNING vendor_id, agent_url, erp_type, status, version

-- reenrol_agent --
-- Bring back a deregistered vendor under a new token (enrolment secret checked by caller).
UPDATE agent_registry
SET agent_url = %(agent_url)s, erp_type = %(erp_type)s, status = 'online',
    last_heartbeat = now(), version = %(version)s, auth_token_hash = %(auth_token_hash)s,
    outbound_secret = %(outbound_secret)s, deregistered_at = NULL
WHERE vendor_id = %(vendor_id)s AND deregistered_at IS NOT NULL
RETURNING vendor_id, agent_url, erp_type, status, version

-- update_registration --
-- Re-registration by the agent itself: only if the token it proved is still the current one.
UPDATE agent_registry
SET agent_url = %(agent_url)s, erp_type = %(erp_type)s, status = 'online',
    last_heartbeat = now(), version = coalesce(%(version)s, version),
    auth_token_hash = %(auth_token_hash)s, outbound_secret = %(outbound_secret)s
WHERE vendor_id = %(vendor_id)s
  AND deregistered_at IS NULL
  AND auth_token_hash = %(current_hash)s
RETURNING vendor_id, agent_url, erp_type, status, version

-- record_heartbeat --
-- A heartbeat: the agent is online now.
UPDATE agent_registry
SET last_heartbeat = now(), status = 'online', version = coalesce(%(version)s, version)
WHERE vendor_id = %(vendor_id)s AND deregistered_at IS NULL
RETURNING vendor_id, status, now() AS server_time

-- agent_views --
-- Agents with live health, newest vendor ids last; optional filter on live health.
SELECT vendor_id, agent_url, erp_type,
       restosync_agent_health(last_heartbeat, deregistered_at,
                              %(degraded_seconds)s, %(offline_seconds)s) AS status,
       status AS persisted_status,
       last_heartbeat,
       EXTRACT(EPOCH FROM now() - last_heartbeat)::float8 AS seconds_since_heartbeat,
       version, created_at, updated_at, deregistered_at,
       count(*) OVER () AS total
FROM agent_registry
WHERE (%(vendor_id)s::text IS NULL OR vendor_id = %(vendor_id)s)
  AND (%(status)s::text IS NULL
       OR restosync_agent_health(last_heartbeat, deregistered_at,
                                 %(degraded_seconds)s, %(offline_seconds)s) = %(status)s)
ORDER BY vendor_id COLLATE "C"
LIMIT %(limit)s OFFSET %(offset)s

-- update_agent_config --
-- Admin change of URL / ERP type; absent values keep the current ones.
UPDATE agent_registry
SET agent_url = coalesce(%(agent_url)s, agent_url),
    erp_type = coalesce(%(erp_type)s, erp_type)
WHERE vendor_id = %(vendor_id)s AND deregistered_at IS NULL
RETURNING vendor_id

-- deregister_agent --
-- Deregister: the token stops working at commit (trigger NOTIFYs every process).
UPDATE agent_registry
SET deregistered_at = now(), status = 'deregistered'
WHERE vendor_id = %(vendor_id)s AND deregistered_at IS NULL
RETURNING vendor_id

-- persist_agent_health --
-- Write live health where it changed; one row per transition.
SELECT vendor_id, previous_status, status, last_heartbeat
FROM restosync_persist_agent_health(%(degraded_seconds)s, %(offline_seconds)s)
