-- The worklog no longer holds what h2j wrote; a deleted one is forgotten, so that the
-- ledger never names a worklog Jira does not hold, and the next plan restores it.
UPDATE h2j.ledger
SET state = 'drifted',
    worklog_id = CASE WHEN %(gone)s THEN NULL ELSE worklog_id END,
    seconds = CASE WHEN %(gone)s THEN NULL ELSE seconds END,
    last_error = %(reason)s
WHERE site = %(site)s AND entry_id = %(entry_id)s
