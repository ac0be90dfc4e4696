"""The run's plan: the entries whose Jira worklogs must be created, changed, moved or removed.

Along with them go the entries skipped or failed (with the reason) and the deletion
candidates that ``load`` checks with Harvest first; unchanged entries are left out.

The classification itself is ``h2j.plan_for`` in ``include/sql/schema``; this module runs
it for a whole run and records the outcome in ``h2j.plan``. Each ``load`` task classifies
its own person again from the ledger as it stands then, since a retry of the task must
see what the failed attempt already wrote.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg

from h2j.sql import sql


def write_plan(
    conn: psycopg.Connection, *, run_id: str, site: str, user_ids: list[int], window: dict
) -> Counter:
    """Record the entries of ``user_ids`` that are not unchanged; how many of each action.

    Entries that need nothing are not written: on a large account they are nearly all of
    them, and writing them took most of the diff's time. The diff runs as a plain SELECT
    (which PostgreSQL may run in parallel) on freshly analysed staging rows, and its few
    rows are copied in afterwards, in one transaction with the removal of an earlier
    attempt's plan.
    """
    params: dict[str, Any] = {"run_id": run_id, "site": site, "user_ids": user_ids, **window}
    conn.execute(sql("staging_analyze"))
    rows = conn.execute(sql("plan_actions"), params).fetchall()

    with conn.transaction():
        conn.execute(sql("plan_clear"), params)
        with conn.cursor() as cur, cur.copy(sql("plan_copy")) as copy:
            for row in rows:
                copy.write_row((run_id, *row))
    return Counter(action for _entry, _user, action, *_rest in rows)
