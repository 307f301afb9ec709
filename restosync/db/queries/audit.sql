-- insert_audit_entry --
-- Record one admin mutation (called in the mutation's own transaction).
INSERT INTO audit_log (actor, action, target_type, target_id, details, correlation_id)
VALUES (%(actor)s, %(action)s, %(target_type)s, %(target_id)s, %(details)s, %(correlation_id)s)
RETURNING id

-- audit_entries --
-- The audit log, newest first, with optional filters and the total count.
SELECT id, actor, action, target_type, target_id, details, correlation_id, created_at,
       count(*) OVER () AS total
FROM audit_log
WHERE (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(target_type)s::text IS NULL OR target_type = %(target_type)s)
  AND (%(target_id)s::text IS NULL OR target_id = %(target_id)s)
  AND (%(actor)s::text IS NULL OR actor = %(actor)s)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s
