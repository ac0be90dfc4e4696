SELECT pg_advisory_unlock(hashtextextended('issue/' || %(site)s || '/' || %(issue_id)s, 0))
