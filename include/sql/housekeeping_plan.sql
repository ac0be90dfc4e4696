-- Plans are kept for audit of recent runs only.
DELETE FROM h2j.plan WHERE planned_at < now() - make_interval(days => %(keep_days)s)
