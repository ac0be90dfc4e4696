"""Creates and upgrades h2j's tables in the ledger database, once per script."""

from __future__ import annotations

import logging

import psycopg

from h2j.sql import sql, sql_dir

log = logging.getLogger(__name__)


def ensure_schema(conn: psycopg.Connection) -> list[str]:
    """Apply the scripts of ``include/sql/schema`` not yet recorded; return their names.

    Scripts run in file-name order, each with its record in one transaction, under an
    advisory lock so that two tasks starting at once do not race.
    """
    applied: list[str] = []
    with conn.transaction():
        conn.execute(sql("schema_lock"))
        conn.execute(sql("schema/000_schema"))
        done = {row[0] for row in conn.execute(sql("schema_applied"))}
        for script in sorted((sql_dir() / "schema").glob("*.sql")):
            version = script.stem
            if version in done or version == "000_schema":
                continue
            conn.execute(script.read_text(encoding="utf-8"))
            conn.execute(sql("schema_record"), {"version": version})
            applied.append(version)
    if applied:
        log.info("Applied ledger schema scripts: %s", ", ".join(applied))
    return applied
