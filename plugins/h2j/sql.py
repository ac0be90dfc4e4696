"""The SQL h2j runs lives in ``include/sql``; this module finds it and opens connections.

Statements are read from files so that they can be reviewed, linted and benchmarked as
SQL, and every value reaches PostgreSQL as a bind parameter.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import psycopg

DEFAULT_CONN_ID = "h2j_postgres"
STATEMENT_TIMEOUT_MS = 300_000


def sql_dir() -> Path:
    """``include/sql`` of the checkout, or ``H2J_SQL_DIR`` where a deployment moved it."""
    override = os.environ.get("H2J_SQL_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "include" / "sql"


@functools.cache
def sql(name: str) -> str:
    """The text of ``include/sql/<name>.sql``."""
    return (sql_dir() / f"{name}.sql").read_text(encoding="utf-8")


def connect(conn_id: str = DEFAULT_CONN_ID) -> psycopg.Connection:
    """An autocommit psycopg 3 connection for the Airflow connection ``conn_id``.

    Autocommit makes every ``with conn.transaction()`` block a real transaction of its
    own, committed when the block ends, which is what the ledger's intent-then-outcome
    writes rely on. The statement timeout keeps a stuck query from holding a worker slot.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    conn.commit()
    conn.autocommit = True
    conn.execute(
        "SELECT set_config('statement_timeout', %(ms)s, false)", {"ms": str(STATEMENT_TIMEOUT_MS)}
    )
    return conn
