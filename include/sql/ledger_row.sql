SELECT * FROM h2j.ledger WHERE site = %(site)s AND entry_id = %(entry_id)s
