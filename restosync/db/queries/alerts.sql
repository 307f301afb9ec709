-- claim_alert_slot --
-- Win the right to send one alert (type + vendor key), atomically across processes:
-- creates the row, or takes it over when its last send is older than the cooldown or
-- was released. Returns claimed_at (release_alert_slot's token); no row while cooling down.
INSERT INTO alert_state AS s (alert_type, vendor_key, last_sent_at, last_details, sent_count)
VALUES (%(alert_type)s, %(vendor_key)s, now(), %(details)s, 1)
ON CONFLICT (alert_type, vendor_key) DO UPDATE
SET last_sent_at = now(),
    last_details = excluded.last_details,
    sent_count = s.sent_count + 1
WHERE s.last_sent_at IS NULL
   OR s.last_sent_at < now() - make_interval(secs => %(cooldown_seconds)s)
RETURNING s.last_sent_at AS claimed_at

-- count_suppressed_alert --
-- Count one raise the cooldown held back (after claim_alert_slot returned no row).
UPDATE alert_state
SET suppressed_count = suppressed_count + 1,
    last_suppressed_at = now()
WHERE alert_type = %(alert_type)s AND vendor_key = %(vendor_key)s

-- release_alert_slot --
-- Give back a claim whose delivery failed, so the next raise sends again; a newer claim
-- (made by another process after this one) is left alone. A row when released.
UPDATE alert_state
SET last_sent_at = NULL,
    sent_count = sent_count - 1,
    failed_count = failed_count + 1,
    last_failed_at = now()
WHERE alert_type = %(alert_type)s AND vendor_key = %(vendor_key)s
  AND last_sent_at = %(claimed_at)s
RETURNING alert_type, vendor_key
