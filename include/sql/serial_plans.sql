-- For the rest of the transaction: one person's plan is a few hundred rows, for which
-- starting parallel workers costs more than it saves.
SELECT set_config('max_parallel_workers_per_gather', '0', true)
