-- Ledger rows of worklogs that Jira's change feed lists, leaving out those whose newest
-- change is the one h2j itself wrote.
SELECT l.entry_id, l.issue_key, l.worklog_id, l.seconds, l.started
FROM h2j.ledger AS l
JOIN unnest(%(worklog_ids)s::text[], %(changed_ms)s::bigint[]) AS feed (worklog_id, changed_ms)
    ON feed.worklog_id = l.worklog_id
WHERE l.site = %(site)s
    AND (
        l.jira_updated_ms IS NULL
        OR feed.changed_ms IS NULL
        OR feed.changed_ms > l.jira_updated_ms
    )
