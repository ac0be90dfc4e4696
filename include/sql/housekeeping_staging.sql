-- Staged rows serve clears and retries of recent runs only.
DELETE FROM h2j.staging WHERE staged_at < now() - make_interval(days => %(keep_days)s)
