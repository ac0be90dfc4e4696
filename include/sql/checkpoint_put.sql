INSERT INTO h2j.feed_checkpoints (site, feed, since_ms)
VALUES (%(site)s, %(feed)s, %(since_ms)s)
ON CONFLICT (site, feed) DO UPDATE SET since_ms = EXCLUDED.since_ms
