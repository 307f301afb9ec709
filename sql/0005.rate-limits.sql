-- depends: 0004.agents-access
-- Request rate limits shared by every web process (SPEC §3.1, §7): one sliding-window counter row per (limit, identity).

-- How a row counts (restosync/services/ratelimit.py, query hit_rate_limit): time is cut
-- into fixed windows of window_seconds aligned on the epoch; a row keeps the accepted
-- hits of the current window and of the one before. A hit is accepted while
--     previous_count * (share of the previous window still inside the sliding window)
--   + current_count + 1 <= window_limit.
-- Refused hits are not counted as accepted (a client that waits Retry-After gets in).
-- Every hit is one INSERT ... ON CONFLICT DO UPDATE ... RETURNING on this table.


-- rate_limit_counters ------------------------------------------------------------

-- UNLOGGED: the counters are disposable. Nothing is written to the WAL for them (every
-- request writes here, so this matters), and a crash truncates the table, which only
-- forgives the counts of one sliding window (a minute). Consequence for DBAs: the table
-- is not replicated (empty on standbys); inspect it on the primary.
-- fillfactor 70 leaves room on each page for HOT updates: within a window only the
-- counts change (no indexed column), so an update needs no index write.
CREATE UNLOGGED TABLE rate_limit_counters (
    limit_name text NOT NULL CHECK (char_length(limit_name) BETWEEN 1 AND 50),
    identity text NOT NULL CHECK (char_length(identity) BETWEEN 1 AND 255),
    window_seconds integer NOT NULL CHECK (window_seconds > 0),
    window_limit integer NOT NULL CHECK (window_limit > 0),
    window_start timestamptz NOT NULL,
    current_count integer NOT NULL DEFAULT 0 CHECK (current_count >= 0),
    previous_count integer NOT NULL DEFAULT 0 CHECK (previous_count >= 0),
    rejected_count integer NOT NULL DEFAULT 0 CHECK (rejected_count >= 0),
    blocked_until timestamptz,
    last_hit_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (limit_name, identity)
) WITH (fillfactor = 70);

-- Serves the prune (DELETE ... WHERE expires_at < now()).
CREATE INDEX ix_rate_limit_counters_expires_at ON rate_limit_counters (expires_at);

COMMENT ON TABLE rate_limit_counters IS
    'Request rate limits shared by all web processes (sliding-window counter, one row per limit and identity). UNLOGGED: disposable counters, not replicated, emptied by a crash. Rows are deleted by restosync_prune_rate_limits() once expired; delete any row to lift a limit at once. See docs/rate-limits.md.';
COMMENT ON COLUMN rate_limit_counters.limit_name IS
    'Which limit: register (per client IP), heartbeat, sync, sync_batch (per agent), default (per client IP).';
COMMENT ON COLUMN rate_limit_counters.identity IS
    'Who is counted: a client IP address or a vendor id. Never a token or any other secret.';
COMMENT ON COLUMN rate_limit_counters.window_seconds IS
    'Length of a window in seconds (60 for every limit of restosync).';
COMMENT ON COLUMN rate_limit_counters.window_limit IS
    'Accepted requests allowed per sliding window, as configured (RATE_LIMIT_*_PER_MINUTE) at the last hit.';
COMMENT ON COLUMN rate_limit_counters.window_start IS
    'Start of the current fixed window (a multiple of window_seconds since the epoch).';
COMMENT ON COLUMN rate_limit_counters.current_count IS
    'Requests accepted in the current window (window_start .. window_start + window_seconds).';
COMMENT ON COLUMN rate_limit_counters.previous_count IS
    'Requests accepted in the window just before window_start; weighs in by the share of that window still inside the sliding window.';
COMMENT ON COLUMN rate_limit_counters.rejected_count IS
    'Requests refused (429) in the current window. Not part of the limit: for DBAs and operators.';
COMMENT ON COLUMN rate_limit_counters.blocked_until IS
    'Set when the last hit was refused: the earliest time a request is accepted again (the Retry-After answered). NULL when the last hit was accepted.';
COMMENT ON COLUMN rate_limit_counters.last_hit_at IS
    'Time of the last request counted, accepted or refused.';
COMMENT ON COLUMN rate_limit_counters.expires_at IS
    'window_start + 2 * window_seconds: from then on both windows are over and the row carries no information; restosync_prune_rate_limits() deletes it.';


-- restosync_prune_rate_limits() ----------------------------------------------------

CREATE FUNCTION restosync_prune_rate_limits()
    RETURNS integer
    LANGUAGE sql
AS $$
    WITH pruned AS (
        DELETE FROM rate_limit_counters
        WHERE expires_at < now()
        RETURNING 1
    )
    SELECT count(*)::integer FROM pruned;
$$;

COMMENT ON FUNCTION restosync_prune_rate_limits() IS
    'Deletes the rate_limit_counters rows whose windows are all over (expires_at < now()) and returns how many. Losing them changes no decision. The web processes call it every few minutes; a DBA or a periodic task may run it at any time: SELECT restosync_prune_rate_limits();';
