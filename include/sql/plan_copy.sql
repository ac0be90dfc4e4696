COPY h2j.plan (run_id, entry_id, user_id, action, issue_id, old_issue_id, seconds) FROM STDIN
