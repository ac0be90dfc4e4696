INSERT INTO h2j.issue_lookups (run_id, site, ref, issue_id, issue_key, found)
VALUES (%(run_id)s, %(site)s, %(ref)s, %(issue_id)s, %(issue_key)s, %(found)s)
ON CONFLICT (run_id, site, ref) DO UPDATE
SET issue_id = EXCLUDED.issue_id, issue_key = EXCLUDED.issue_key, found = EXCLUDED.found
