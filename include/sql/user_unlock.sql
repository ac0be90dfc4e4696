SELECT pg_advisory_unlock(hashtextextended(%(site)s || '/' || %(user_id)s::text, 0))
