-- depends: 0005.rate-limits
-- Alert cooldown state (SPEC §6): the same alert (type + vendor) goes out at most once per ALERT_COOLDOWN_SECONDS, across every process.

-- One row per (alert_type, vendor_key), created by the first raise and updated by every
-- later one; rows are never deleted by restosync (a handful per vendor at most). A
-- process sends only after winning the row in one INSERT ... ON CONFLICT DO UPDATE ...
-- WHERE statement (restosync/db/queries/alerts.sql, claim_alert_slot), so two processes
-- raising the same alert at once send it once. Details never hold PII or secrets.


-- alert_state -----------------------------------------------------------------

CREATE TABLE alert_state (
    alert_type text NOT NULL
        CHECK (alert_type ~ '^[a-z][a-z0-9]*(_[a-z0-9]+)*$' AND char_length(alert_type) <= 64),
    vendor_key text NOT NULL CHECK (char_length(vendor_key) <= 100),
    last_sent_at timestamptz,
    last_details jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(last_details) = 'object'),
    sent_count bigint NOT NULL DEFAULT 0 CHECK (sent_count >= 0),
    suppressed_count bigint NOT NULL DEFAULT 0 CHECK (suppressed_count >= 0),
    last_suppressed_at timestamptz,
    failed_count bigint NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    last_failed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_type, vendor_key)
);

CREATE TRIGGER trg_alert_state_touch_updated_at
    BEFORE UPDATE ON alert_state
    FOR EACH ROW EXECUTE FUNCTION restosync_touch_updated_at();

COMMENT ON TABLE alert_state IS
    'Cooldown of the alerts of SPEC §6 (logged, and posted to SLACK_WEBHOOK_URL when set), one row per (alert_type, vendor_key). Written by every raise of an alert (restosync.services.alerts); read it to see what was alerted, when, and how often repeats were held back.';
COMMENT ON COLUMN alert_state.alert_type IS
    'snake_case alert name, e.g. agent_offline, dlq_entries_found, circuit_breaker_open, reconciliation_drift. An open list: new types need no migration.';
COMMENT ON COLUMN alert_state.vendor_key IS
    'vendor_id the alert is about, or '''' (empty string) for an alert about no single vendor (not NULL: it is part of the primary key).';
COMMENT ON COLUMN alert_state.last_sent_at IS
    'Start of the current cooldown: when the alert last went out. NULL after a failed webhook POST released the claim, so the next raise sends again. A raise sends when this is NULL or older than ALERT_COOLDOWN_SECONDS.';
COMMENT ON COLUMN alert_state.last_details IS
    'Details (JSON object) of the last alert that went out; vendor ids and counts only, never PII or secrets.';
COMMENT ON COLUMN alert_state.sent_count IS
    'Alerts delivered: log line written and, when SLACK_WEBHOOK_URL is set, POST answered 2xx.';
COMMENT ON COLUMN alert_state.suppressed_count IS
    'Raises held back by the cooldown (logged at DEBUG only, not posted), since the row was created.';
COMMENT ON COLUMN alert_state.last_suppressed_at IS 'When a raise was last held back by the cooldown.';
COMMENT ON COLUMN alert_state.failed_count IS
    'Alerts logged whose webhook POST failed (error status, timeout, network); each released its claim.';
COMMENT ON COLUMN alert_state.last_failed_at IS 'When a webhook POST last failed.';
COMMENT ON COLUMN alert_state.created_at IS 'When this alert (type + vendor) was first raised.';
COMMENT ON COLUMN alert_state.updated_at IS 'Last raise of any outcome (sent, suppressed, failed); set by trigger.';
