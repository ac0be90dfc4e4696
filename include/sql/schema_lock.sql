-- Serialises schema set-up between tasks that start at once; released at commit.
SELECT pg_advisory_xact_lock(hashtext('h2j.schema'))
