COPY h2j.staging (
    run_id, user_id, entry_id, spent_date, issue_id, issue_key, seconds, started, comment,
    comment_hash, status, error
) FROM STDIN
