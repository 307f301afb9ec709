-- ping --
-- Cheapest round trip that proves the database answers.
SELECT 1 AS ok

-- queue_depth_by_queue_and_status --
-- Live procrastinate jobs per queue and status, with how long the oldest due one has
-- waited (since its schedule, else since it was deferred; future retries don't count).
SELECT j.queue_name AS queue,
       j.status::text AS status,
       count(*) AS jobs,
       EXTRACT(EPOCH FROM now() - min(coalesce(j.scheduled_at, d.deferred_at))
                                  FILTER (WHERE j.scheduled_at IS NULL OR j.scheduled_at <= now()))
           AS oldest_scheduled_seconds
FROM procrastinate_jobs AS j
LEFT JOIN LATERAL (
    SELECT min(e.at) AS deferred_at
    FROM procrastinate_events AS e
    WHERE e.job_id = j.id AND e.type = 'deferred'
) AS d ON true
WHERE j.status IN ('todo', 'doing')
GROUP BY j.queue_name, j.status
ORDER BY j.queue_name, j.status

-- workers_seen --
-- Registered procrastinate workers and how long ago each one sent a heartbeat.
SELECT id,
       EXTRACT(EPOCH FROM now() - last_heartbeat) AS seconds_since_heartbeat
FROM procrastinate_workers
ORDER BY last_heartbeat DESC

-- agent_counts_by_health --
-- Registered agents counted by the health derived from their last heartbeat right now.
SELECT count(*) FILTER (
           WHERE last_heartbeat >= now() - make_interval(secs => %(degraded_seconds)s)
       ) AS online,
       count(*) FILTER (
           WHERE last_heartbeat < now() - make_interval(secs => %(degraded_seconds)s)
             AND last_heartbeat >= now() - make_interval(secs => %(offline_seconds)s)
       ) AS degraded,
       count(*) FILTER (
           WHERE last_heartbeat IS NULL
              OR last_heartbeat < now() - make_interval(secs => %(offline_seconds)s)
       ) AS offline,
       count(*) AS total
FROM agent_registry
WHERE deregistered_at IS NULL
