DELETE FROM h2j.plan WHERE run_id = %(run_id)s AND user_id = ANY (%(user_ids)s)
