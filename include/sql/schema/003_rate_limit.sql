-- Harvest's request budget, shared by every process that calls Harvest with one token.
-- One row per request slot taken within the last period; h2j.take_rate_slot keeps it so.
-- Rows outlive their period by seconds only, so the table is UNLOGGED: no WAL for every
-- Harvest call, and the empty table a crash leaves behind costs at most one early burst.
CREATE UNLOGGED TABLE IF NOT EXISTS h2j.rate_slots (
    bucket   text        NOT NULL,
    taken_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS rate_slots_bucket_taken ON h2j.rate_slots (bucket, taken_at);

-- Takes a slot in p_bucket and returns 0 when fewer than p_max_calls were taken in the
-- last p_period; otherwise takes none and returns the seconds until enough slots expire.
-- The advisory lock serialises the callers of one bucket until the calling transaction
-- ends, so a caller runs this as a transaction of its own and never sleeps inside one.
CREATE OR REPLACE FUNCTION h2j.take_rate_slot(
    p_bucket text, p_max_calls integer, p_period interval
)
RETURNS double precision
LANGUAGE plpgsql
AS $$
DECLARE
    v_now   timestamptz;
    v_taken integer;
    v_frees timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('h2j.rate_slots/' || p_bucket, 0));
    -- now() would be the transaction's start, before the wait for the lock; slots must be
    -- stamped in the order the lock granted them.
    v_now := clock_timestamp();
    DELETE FROM h2j.rate_slots
    WHERE bucket = p_bucket AND taken_at <= v_now - p_period;
    SELECT count(*) INTO v_taken FROM h2j.rate_slots WHERE bucket = p_bucket;
    IF v_taken < p_max_calls THEN
        INSERT INTO h2j.rate_slots (bucket, taken_at) VALUES (p_bucket, v_now);
        RETURN 0;
    END IF;
    -- More slots than the limit are left when another caller ran with a higher limit: wait
    -- for the slot whose expiry brings the count below this caller's limit.
    SELECT taken_at INTO v_frees
    FROM h2j.rate_slots
    WHERE bucket = p_bucket
    ORDER BY taken_at
    OFFSET v_taken - p_max_calls
    LIMIT 1;
    RETURN extract(epoch FROM v_frees + p_period - v_now);
END
$$;
