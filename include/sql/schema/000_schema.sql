-- h2j keeps everything in its own schema; applied scripts are recorded so each runs once.
CREATE SCHEMA IF NOT EXISTS h2j;

CREATE TABLE IF NOT EXISTS h2j.schema_version (
    version    text        PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
