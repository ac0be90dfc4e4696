-- The ledger rows an audit of a window compares: entries the ledger dates in it, and the
-- entries Harvest dates in it or whose worklogs Jira dates in it (their ledger date may lag).
SELECT entry_id, user_id, issue_id, issue_key, worklog_id, seconds, started, spent_date,
       state, last_error
FROM h2j.ledger
WHERE site = %(site)s
  AND (spent_date BETWEEN %(from_date)s AND %(to_date)s OR entry_id = ANY (%(entry_ids)s))
