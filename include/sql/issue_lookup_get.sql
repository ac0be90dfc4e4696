SELECT ref, issue_id, issue_key, found
FROM h2j.issue_lookups
WHERE run_id = %(run_id)s AND site = %(site)s AND ref = ANY (%(refs)s)
