SELECT entry_id, issue_key, worklog_id, seconds, started
FROM h2j.ledger
WHERE site = %(site)s AND worklog_id = ANY (%(worklog_ids)s)
