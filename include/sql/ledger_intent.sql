-- Written before a Jira call, so that a crash between the call and its outcome leaves a
-- trace the next attempt reads back instead of writing blindly again.
INSERT INTO h2j.ledger (
    site, entry_id, harvest_account, user_id, issue_id, issue_key, worklog_id, spent_date,
    state, pending_action, pending_hash, last_run
) VALUES (
    %(site)s, %(entry_id)s, %(harvest_account)s, %(user_id)s, %(issue_id)s, %(issue_key)s,
    %(worklog_id)s, %(spent_date)s, 'pending', %(action)s, %(payload_hash)s, %(run_id)s
)
ON CONFLICT (site, entry_id) DO UPDATE
SET pending_action = EXCLUDED.pending_action,
    pending_hash = EXCLUDED.pending_hash,
    state = CASE WHEN h2j.ledger.worklog_id IS NULL THEN 'pending' ELSE h2j.ledger.state END,
    -- Without a worklog yet, the row names the issue this create writes to, which is
    -- where a later attempt must read back; with one, the worklog's own issue.
    issue_id = CASE WHEN h2j.ledger.worklog_id IS NULL THEN EXCLUDED.issue_id
                    ELSE h2j.ledger.issue_id END,
    issue_key = CASE WHEN h2j.ledger.worklog_id IS NULL THEN EXCLUDED.issue_key
                     ELSE h2j.ledger.issue_key END,
    last_run = EXCLUDED.last_run
