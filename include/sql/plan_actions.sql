-- The entries of a run that need a Jira write, a check in Harvest, or a reason why not:
-- all but the unchanged ones. A plain SELECT, so that PostgreSQL may run
-- the diff in parallel, which it never does for an INSERT ... SELECT.
SELECT p.entry_id, p.user_id, p.action, p.issue_id, p.old_issue_id, p.seconds
FROM h2j.plan_for(%(run_id)s, %(site)s, %(user_ids)s, %(from_date)s, %(to_date)s) AS p
WHERE p.action <> 'unchanged'
