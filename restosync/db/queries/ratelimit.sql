-- hit_rate_limit --
-- Count one request of (limit_name, identity) in its sliding-window counter unless that
-- would pass window_limit; returns the row after the hit, with accepted and, when refused,
-- retry_after_seconds (time until a request is accepted again). at NULL means now().
WITH hit AS (
    SELECT coalesce(%(at)s::timestamptz, now()) AS at,
           %(window_seconds)s::integer AS window_seconds
), aligned AS (
    SELECT hit.at,
           hit.window_seconds,
           to_timestamp(floor(EXTRACT(EPOCH FROM hit.at) / hit.window_seconds)
                        * hit.window_seconds) AS window_start
    FROM hit
)
INSERT INTO rate_limit_counters AS c (
    limit_name, identity, window_seconds, window_limit, window_start,
    current_count, previous_count, rejected_count, blocked_until, last_hit_at, expires_at
)
SELECT %(limit_name)s, %(identity)s, a.window_seconds, %(window_limit)s::integer,
       a.window_start, 1, 0, 0, NULL, a.at,
       a.window_start + make_interval(secs => 2 * a.window_seconds)
FROM aligned AS a
ON CONFLICT (limit_name, identity) DO UPDATE
SET (window_seconds, window_limit, window_start, current_count, previous_count,
     rejected_count, blocked_until, last_hit_at, expires_at) = (
    SELECT EXCLUDED.window_seconds, EXCLUDED.window_limit, EXCLUDED.window_start,
           s.current_count + CASE WHEN d.accepted THEN 1 ELSE 0 END,
           s.previous_count,
           s.rejected_count + CASE WHEN d.accepted THEN 0 ELSE 1 END,
           -- Refused: the earliest instant the same test passes, counted from
           -- window_start. If the current window alone is full, wait for the next
           -- window and for the count carried into it to decay enough; otherwise
           -- wait for the previous window's weight to decay enough.
           CASE WHEN NOT d.accepted THEN
               EXCLUDED.window_start + make_interval(secs => EXCLUDED.window_seconds * (
                   CASE WHEN s.current_count >= EXCLUDED.window_limit
                        THEN (2 * s.current_count - EXCLUDED.window_limit + 1)::numeric
                             / s.current_count
                        ELSE (s.previous_count + s.current_count - EXCLUDED.window_limit + 1)
                             ::numeric / s.previous_count
                   END))
           END,
           EXCLUDED.last_hit_at, EXCLUDED.expires_at
    FROM (
        -- The stored counts seen from this hit's window: unchanged in the same window,
        -- shifted by one when the row's window is the one just before, else forgotten.
        SELECT CASE WHEN c.window_start = EXCLUDED.window_start
                    THEN c.current_count ELSE 0 END AS current_count,
               CASE WHEN c.window_start = EXCLUDED.window_start THEN c.previous_count
                    WHEN c.window_start = EXCLUDED.window_start
                                          - make_interval(secs => EXCLUDED.window_seconds)
                    THEN c.current_count
                    ELSE 0 END AS previous_count,
               CASE WHEN c.window_start = EXCLUDED.window_start
                    THEN c.rejected_count ELSE 0 END AS rejected_count,
               EXTRACT(EPOCH FROM EXCLUDED.last_hit_at - EXCLUDED.window_start)
                   AS elapsed_seconds
    ) AS s
    CROSS JOIN LATERAL (
        -- previous * (share of the previous window still inside the sliding window)
        -- + current + 1 <= limit, multiplied by window_seconds to stay exact (numeric).
        SELECT s.previous_count * (EXCLUDED.window_seconds - s.elapsed_seconds)
               + (s.current_count + 1) * EXCLUDED.window_seconds
               <= EXCLUDED.window_limit * EXCLUDED.window_seconds AS accepted
    ) AS d
)
RETURNING blocked_until IS NULL AS accepted,
          EXTRACT(EPOCH FROM blocked_until - last_hit_at)::float8 AS retry_after_seconds,
          current_count,
          previous_count,
          rejected_count,
          window_start

-- prune_rate_limits --
-- Delete the counters whose windows are all over; returns how many went.
SELECT restosync_prune_rate_limits() AS pruned
