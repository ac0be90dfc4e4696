-- A failure keeps whatever worklog the entry already had: the ledger only ever names
-- worklogs that Jira holds. When the answer was lost (ambiguous) the intent stays, so the
-- next attempt reads Jira back before writing again.
INSERT INTO h2j.ledger (
    site, entry_id, harvest_account, user_id, issue_id, issue_key, spent_date, state,
    pending_action, last_error, last_run
) VALUES (
    %(site)s, %(entry_id)s, %(harvest_account)s, %(user_id)s, %(issue_id)s, %(issue_key)s,
    %(spent_date)s, 'failed', NULL, %(error)s, %(run_id)s
)
ON CONFLICT (site, entry_id) DO UPDATE
SET state = CASE WHEN %(ambiguous)s THEN h2j.ledger.state ELSE 'failed' END,
    pending_action = CASE WHEN %(ambiguous)s THEN h2j.ledger.pending_action END,
    pending_hash = CASE WHEN %(ambiguous)s THEN h2j.ledger.pending_hash END,
    last_error = EXCLUDED.last_error,
    last_run = EXCLUDED.last_run
