-- When Jira last changed the worklog, as the answer to h2j's own write said. Jira's change
-- feed lists h2j's writes too; a feed time no later than this one is h2j's own change and
-- needs no read-back to tell whether someone edited the worklog by hand.
ALTER TABLE h2j.ledger ADD COLUMN IF NOT EXISTS jira_updated_ms bigint;

-- The plan keeps every entry but the unchanged ones, and only for recent runs.
ALTER TABLE h2j.plan ADD COLUMN IF NOT EXISTS planned_at timestamptz NOT NULL DEFAULT now();

-- The diff only reads, so PostgreSQL may spread it over parallel workers.
ALTER FUNCTION h2j.plan_for(text, text, bigint[], date, date) PARALLEL SAFE;
