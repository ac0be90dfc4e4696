SELECT since_ms FROM h2j.feed_checkpoints WHERE site = %(site)s AND feed = %(feed)s
