INSERT INTO h2j.ledger (
    site, entry_id, harvest_account, user_id, issue_id, issue_key, worklog_id, seconds,
    started, spent_date, comment_hash, state, first_synced, last_synced, last_run,
    author_conn, jira_updated_ms
) VALUES (
    %(site)s, %(entry_id)s, %(harvest_account)s, %(user_id)s, %(issue_id)s, %(issue_key)s,
    %(worklog_id)s, %(seconds)s, %(started)s, %(spent_date)s, %(comment_hash)s, 'synced',
    now(), now(), %(run_id)s, %(author_conn)s, %(jira_updated_ms)s
)
ON CONFLICT (site, entry_id) DO UPDATE
SET user_id = EXCLUDED.user_id,
    issue_id = EXCLUDED.issue_id,
    issue_key = EXCLUDED.issue_key,
    worklog_id = EXCLUDED.worklog_id,
    seconds = EXCLUDED.seconds,
    started = EXCLUDED.started,
    spent_date = EXCLUDED.spent_date,
    comment_hash = EXCLUDED.comment_hash,
    state = 'synced',
    pending_action = NULL,
    pending_hash = NULL,
    last_error = NULL,
    first_synced = coalesce(h2j.ledger.first_synced, now()),
    last_synced = now(),
    last_run = EXCLUDED.last_run,
    author_conn = EXCLUDED.author_conn,
    jira_updated_ms = EXCLUDED.jira_updated_ms
