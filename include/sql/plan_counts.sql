SELECT user_id, action, count(*) AS entries
FROM h2j.plan
WHERE run_id = %(run_id)s AND user_id = ANY (%(user_ids)s)
GROUP BY user_id, action
ORDER BY user_id, action
