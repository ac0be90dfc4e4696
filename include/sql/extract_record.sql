INSERT INTO h2j.extracts (run_id, user_id, user_name, from_date, to_date, entries)
VALUES (%(run_id)s, %(user_id)s, %(user_name)s, %(from_date)s, %(to_date)s, %(entries)s)
ON CONFLICT (run_id, user_id) DO UPDATE
SET user_name = EXCLUDED.user_name,
    from_date = EXCLUDED.from_date,
    to_date = EXCLUDED.to_date,
    entries = EXCLUDED.entries,
    finished_at = now()
