INSERT INTO h2j.plan (run_id, entry_id, user_id, action, issue_id, old_issue_id, seconds)
SELECT %(run_id)s, p.entry_id, p.user_id, p.action, p.issue_id, p.old_issue_id, p.seconds
FROM h2j.plan_for(%(run_id)s, %(site)s, %(user_ids)s, %(from_date)s, %(to_date)s) AS p
ON CONFLICT (run_id, entry_id) DO UPDATE
SET user_id = EXCLUDED.user_id,
    action = EXCLUDED.action,
    issue_id = EXCLUDED.issue_id,
    old_issue_id = EXCLUDED.old_issue_id,
    seconds = EXCLUDED.seconds
