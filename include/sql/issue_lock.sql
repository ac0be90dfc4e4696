-- One write at a time per Jira issue, across all tasks: parallel writes to one issue
-- can leave its time tracking wrong.
SELECT pg_advisory_lock(hashtextextended('issue/' || %(site)s || '/' || %(issue_id)s, 0))
