-- The diff: what one run must do in Jira for the given users, as one set-based query.
-- Staged entries join the ledger on the entry id; ledger rows with a live worklog whose
-- entry vanished from the window become 'verify' (Harvest must confirm the deletion).
-- A create whose answer was lost (pending_action 'create', no worklog id) may have left a
-- worklog in Jira, so it counts as live: load reads Jira back before acting on it. And a
-- row with any pending intent is never 'unchanged': Jira may hold the newer write.
CREATE OR REPLACE FUNCTION h2j.plan_for(
    p_run_id text, p_site text, p_user_ids bigint[], p_from date, p_to date
)
RETURNS TABLE (
    entry_id       bigint,
    user_id        bigint,
    action         text,
    reason         text,
    issue_id       text,
    issue_key      text,
    old_issue_id   text,
    old_issue_key  text,
    worklog_id     text,
    seconds        integer,
    started        text,
    spent_date     date,
    comment        text,
    comment_hash   text,
    pending_action text,
    author_conn    text,
    last_error     text
)
LANGUAGE sql STABLE
AS $$
    WITH staged AS (
        SELECT s.*
        FROM h2j.staging AS s
        WHERE s.run_id = p_run_id AND s.user_id = ANY (p_user_ids)
    ),
    staged_pairs AS (
        SELECT s.*, l.worklog_id AS l_worklog_id, l.issue_id AS l_issue_id,
               l.issue_key AS l_issue_key, l.seconds AS l_seconds, l.started AS l_started,
               l.comment_hash AS l_comment_hash, l.state AS l_state,
               l.pending_action AS l_pending_action, l.author_conn AS l_author_conn,
               l.last_error AS l_last_error
        FROM staged AS s
        LEFT JOIN h2j.ledger AS l ON l.site = p_site AND l.entry_id = s.entry_id
    ),
    vanished AS (
        SELECT l.*
        FROM h2j.ledger AS l
        WHERE l.site = p_site
          AND l.user_id = ANY (p_user_ids)
          AND (l.worklog_id IS NOT NULL OR l.pending_action = 'create')
          AND l.spent_date BETWEEN p_from AND p_to
          AND NOT EXISTS (
              SELECT 1 FROM h2j.staging AS s
              WHERE s.run_id = p_run_id AND s.entry_id = l.entry_id
          )
    )
    SELECT
        p.entry_id,
        p.user_id,
        CASE
            WHEN p.status = 'bad' THEN 'fail'
            WHEN p.status = 'running' THEN 'skip'
            WHEN p.status = 'no_issue' OR p.seconds IS NULL THEN
                CASE
                    WHEN p.l_worklog_id IS NOT NULL OR p.l_pending_action = 'create'
                        THEN 'delete'
                    ELSE 'skip'
                END
            WHEN p.l_worklog_id IS NULL THEN 'create'
            WHEN p.l_issue_id <> p.issue_id THEN 'move'
            WHEN p.l_state = 'synced'
                 AND p.l_pending_action IS NULL
                 AND round(p.l_seconds / 60.0) = round(p.seconds / 60.0)
                 AND p.l_started = p.started
                 AND p.l_comment_hash = p.comment_hash THEN 'unchanged'
            ELSE 'update'
        END,
        CASE
            WHEN p.status = 'bad' THEN p.error
            WHEN p.status = 'running' THEN 'timer still running'
            WHEN p.status = 'no_issue' THEN 'no Jira issue'
            WHEN p.seconds IS NULL THEN 'zero hours'
        END,
        p.issue_id,
        p.issue_key,
        p.l_issue_id,
        p.l_issue_key,
        p.l_worklog_id,
        p.seconds,
        p.started,
        p.spent_date,
        p.comment,
        p.comment_hash,
        p.l_pending_action,
        p.l_author_conn,
        p.l_last_error
    FROM staged_pairs AS p
    UNION ALL
    SELECT
        v.entry_id, v.user_id, 'verify', 'missing from Harvest in this window',
        NULL, NULL, v.issue_id, v.issue_key, v.worklog_id, NULL, NULL, v.spent_date, NULL,
        NULL, v.pending_action, v.author_conn, v.last_error
    FROM vanished AS v
$$;
