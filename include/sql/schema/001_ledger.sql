-- The ledger: one row per Harvest entry h2j has acted on, per Jira site.
-- It says which Jira worklog holds the entry's hours and what was last written there.
CREATE TABLE IF NOT EXISTS h2j.ledger (
    site            text        NOT NULL,
    entry_id        bigint      NOT NULL,
    harvest_account text        NOT NULL,
    user_id         bigint      NOT NULL,
    issue_id        text,
    issue_key       text,
    worklog_id      text,
    seconds         integer,
    started         text,
    spent_date      date,
    comment_hash    text,
    state           text        NOT NULL,
    pending_action  text,
    pending_hash    text,
    last_error      text,
    first_synced    timestamptz,
    last_synced     timestamptz,
    last_run        text,
    -- The Jira connection that wrote the worklog: updates and deletes must use the same.
    author_conn     text,
    PRIMARY KEY (site, entry_id),
    -- 'drifted': the worklog was changed or deleted by hand in Jira; the next plan
    -- restores Harvest's value.
    CONSTRAINT ledger_state_known
        CHECK (state IN ('synced', 'deleted', 'failed', 'pending', 'drifted')),
    CONSTRAINT ledger_worklog_has_issue CHECK (worklog_id IS NULL OR issue_id IS NOT NULL)
);

-- A worklog belongs to at most one entry, so no entry can be given a second worklog that
-- another entry already claims.
CREATE UNIQUE INDEX IF NOT EXISTS ledger_one_entry_per_worklog
    ON h2j.ledger (site, worklog_id) WHERE worklog_id IS NOT NULL;

CREATE INDEX IF NOT EXISTS ledger_user_date ON h2j.ledger (site, user_id, spent_date);

-- What one run extracted from Harvest, per user; replaced whole by each extract attempt.
CREATE TABLE IF NOT EXISTS h2j.staging (
    run_id       text    NOT NULL,
    user_id      bigint  NOT NULL,
    entry_id     bigint  NOT NULL,
    spent_date   date,
    issue_id     text,
    issue_key    text,
    seconds      integer,
    started      text,
    comment      text,
    comment_hash text,
    status       text    NOT NULL,
    error        text,
    staged_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, entry_id),
    CONSTRAINT staging_status_known CHECK (status IN ('ok', 'no_issue', 'running', 'bad'))
);

CREATE INDEX IF NOT EXISTS staging_run_user ON h2j.staging (run_id, user_id);

-- Which users' extracts finished for a run: only their ledger rows may be planned, so a
-- failed extract can never look like a month of deleted entries.
CREATE TABLE IF NOT EXISTS h2j.extracts (
    run_id      text        NOT NULL,
    user_id     bigint      NOT NULL,
    user_name   text,
    from_date   date        NOT NULL,
    to_date     date        NOT NULL,
    entries     integer     NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, user_id)
);

-- The plan the diff wrote for a run, kept for audit.
CREATE TABLE IF NOT EXISTS h2j.plan (
    run_id       text   NOT NULL,
    entry_id     bigint NOT NULL,
    user_id      bigint NOT NULL,
    action       text   NOT NULL,
    issue_id     text,
    old_issue_id text,
    seconds      integer,
    PRIMARY KEY (run_id, entry_id)
);

-- Jira issues looked up during a run, shared by the run's extract tasks.
CREATE TABLE IF NOT EXISTS h2j.issue_lookups (
    run_id     text    NOT NULL,
    site       text    NOT NULL,
    ref        text    NOT NULL,
    issue_id   text,
    issue_key  text,
    found      boolean NOT NULL,
    PRIMARY KEY (run_id, site, ref)
);

-- How far each of Jira's worklog change feeds has been read, per site.
CREATE TABLE IF NOT EXISTS h2j.feed_checkpoints (
    site     text   NOT NULL,
    feed     text   NOT NULL,
    since_ms bigint NOT NULL,
    PRIMARY KEY (site, feed)
);
