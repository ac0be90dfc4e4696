UPDATE h2j.ledger
SET worklog_id = NULL,
    seconds = NULL,
    state = 'deleted',
    pending_action = NULL,
    pending_hash = NULL,
    last_error = NULL,
    last_synced = now(),
    last_run = %(run_id)s
WHERE site = %(site)s AND entry_id = %(entry_id)s
