-- Rebuilding from Jira: a worklog's h2j property names the entry it was written for, so
-- another entry's row that claims the worklog is wrong. Its claim is dropped; the next
-- run creates a worklog for that entry if Harvest still asks for one.
UPDATE h2j.ledger
SET worklog_id = NULL,
    seconds = NULL,
    state = 'deleted',
    pending_action = NULL,
    pending_hash = NULL,
    last_error = 'rebuild-ledger: worklog ' || %(worklog_id)s::text || ' belongs to entry '
        || %(entry_id)s::text,
    last_run = %(run_id)s
WHERE site = %(site)s AND worklog_id = %(worklog_id)s AND entry_id <> %(entry_id)s
