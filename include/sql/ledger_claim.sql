-- A worklog found by reading Jira back (an earlier create whose answer was lost) is
-- recorded at once, so that whatever fails next, the ledger knows the worklog exists.
UPDATE h2j.ledger
SET worklog_id = %(worklog_id)s,
    issue_id = %(issue_id)s,
    issue_key = %(issue_key)s,
    author_conn = %(author_conn)s,
    seconds = NULL,
    jira_updated_ms = NULL,
    state = 'pending',
    pending_action = 'update',
    last_run = %(run_id)s
WHERE site = %(site)s AND entry_id = %(entry_id)s
