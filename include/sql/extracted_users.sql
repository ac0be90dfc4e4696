SELECT user_id FROM h2j.extracts WHERE run_id = %(run_id)s AND user_id = ANY (%(user_ids)s)
