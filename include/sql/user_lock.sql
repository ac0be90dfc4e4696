-- One load per person at a time, across overlapping runs (a backfill and the daily run).
SELECT pg_advisory_lock(hashtextextended(%(site)s || '/' || %(user_id)s::text, 0))
