-- A worklog changed or deleted by hand in Jira is marked 'drifted' until h2j restores it.
ALTER TABLE h2j.ledger DROP CONSTRAINT IF EXISTS ledger_state_known;
ALTER TABLE h2j.ledger ADD CONSTRAINT ledger_state_known
    CHECK (state IN ('synced', 'deleted', 'failed', 'pending', 'drifted'));

-- How far each Jira change feed has been read, per site.
CREATE TABLE IF NOT EXISTS h2j.feed_checkpoints (
    site     text   NOT NULL,
    feed     text   NOT NULL,
    since_ms bigint NOT NULL,
    PRIMARY KEY (site, feed)
);
