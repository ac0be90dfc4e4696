-- The extracts have just loaded this run's rows, too recently for autovacuum to have
-- sampled them; without fresh statistics the planner takes the run for a few rows.
ANALYZE h2j.staging
