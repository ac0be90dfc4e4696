DELETE FROM h2j.extracts WHERE run_id = %(run_id)s AND user_id = %(user_id)s
