SELECT *
FROM h2j.plan_for(%(run_id)s, %(site)s, %(user_ids)s, %(from_date)s, %(to_date)s)
ORDER BY coalesce(issue_id, old_issue_id), entry_id
