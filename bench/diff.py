"""``python -m bench.diff``: how long h2j's set-based diff takes on a million entries.

A fresh database gets h2j's schema (``h2j.schema.ensure_schema``), then a ledger of
``users x entries`` synced rows (default 5,000 x 200) and one run's staging rows for the
same people, both by COPY: 1 % of the entries changed (hours, comment or issue), 0.5 %
deleted in Harvest, 0.5 % new. The diff is then run as the ``diff`` task runs it
(``h2j.plan.write_plan``: the ``plan_actions`` SELECT over ``h2j.plan_for``, then a COPY
of the entries that need a write into ``h2j.plan``). The first pass starts as a run does:
the ledger long since analysed by autovacuum, the staging rows fresh from COPY and not
yet sampled (``write_plan`` analyses them itself). A second pass repeats it. Each pass
then runs ``EXPLAIN (ANALYZE, BUFFERS)`` of the diff SELECT and times ``plan_read`` for
single people, the statement each ``load`` task runs.

Run from the checkout with ``PYTHONPATH=plugins:.``; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql as psql

from bench import common

SITE = "h2j-sandbox.atlassian.net"
ACCOUNT = "1234567"
RUN_ID = "scheduled__2026-12-01T00:00:00+00:00"
LAST_RUN = "scheduled__2026-11-30T00:00:00+00:00"
FROM, TO = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
FIRST_ENTRY = 4_300_000_001
FIRST_USER = 3_700_000
ISSUES = 500
TARGET_SECONDS = 5.0
LEDGER_COPY = """
COPY h2j.ledger (
    site, entry_id, harvest_account, user_id, issue_id, issue_key, worklog_id, seconds,
    started, spent_date, comment_hash, state, first_synced, last_synced, last_run,
    author_conn
) FROM STDIN
"""
TABLES = ("ledger", "staging")
# Turning autovacuum off keeps the "not analysed yet" pass honest on a slow machine.
NO_AUTOVACUUM = "ALTER TABLE {} SET (autovacuum_enabled = false)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.diff", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--entries", type=int, default=200, help="entries per user")
    parser.add_argument("--load-users", type=int, default=20, help="people timed for plan_read")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Shape:
    """Which entries changed, vanished or are new, spread evenly by a multiplicative hash."""

    users: int
    entries: int

    @property
    def total(self) -> int:
        return self.users * self.entries

    @staticmethod
    def bucket(index: int) -> int:
        return (index * 2_654_435_761) % 1000

    def kind(self, index: int) -> str:
        bucket = self.bucket(index)
        if bucket < 10:
            return ("seconds", "seconds", "seconds", "comment", "issue")[index % 5]
        if bucket < 15:
            return "deleted"
        return "same"

    def expected(self) -> Counter:
        counts: Counter = Counter()
        for index in range(self.total):
            kind = self.kind(index)
            action = {"same": "unchanged", "deleted": "verify", "issue": "move"}.get(kind, "update")
            counts[action] += 1
        counts["create"] = counts["verify"]
        return counts


@dataclass
class Entry:
    index: int
    user_id: int
    entry_id: int
    day: dt.date
    issue: int
    seconds: int
    comment: str

    @property
    def started(self) -> str:
        return f"{self.day.isoformat()}T09:00:00.000+0000"

    @property
    def issue_id(self) -> str:
        return str(20_000 + self.issue)

    @property
    def issue_key(self) -> str:
        return f"OPS-{self.issue + 1}"


def entry(shape: Shape, user: int, number: int, index: int) -> Entry:
    """The entry as the ledger last synced it; entries of a day interleave across users."""
    return Entry(
        index=index,
        user_id=FIRST_USER + user,
        entry_id=FIRST_ENTRY + number * shape.users + user,
        day=FROM + dt.timedelta(days=number % 30),
        issue=(user * 7 + number) % ISSUES,
        seconds=900 * (1 + (user + number * 13) % 32),
        comment=f"User {user}: OPS-{(user * 7 + number) % ISSUES + 1} work item {number}",
    )


def hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ledger_rows(shape: Shape) -> Iterator[tuple]:
    now = dt.datetime(2026, 11, 30, 6, tzinfo=dt.UTC)
    for user in range(shape.users):
        for number in range(shape.entries):
            e = entry(shape, user, number, user * shape.entries + number)
            yield (
                SITE, e.entry_id, ACCOUNT, e.user_id, e.issue_id, e.issue_key,
                str(10_000_000 + e.index), e.seconds, e.started, e.day, hashed(e.comment),
                "synced", now, now, LAST_RUN, "jira_default",
            )  # fmt: skip


def staged_rows(shape: Shape) -> Iterator[tuple]:
    """This run's rows, person by person as the extracts COPY them; one new per deletion."""
    fresh = shape.total
    for user in range(shape.users):
        for number in range(shape.entries):
            e = entry(shape, user, number, user * shape.entries + number)
            kind = shape.kind(e.index)
            if kind == "deleted":
                e = Entry(e.index, e.user_id, FIRST_ENTRY + fresh, e.day, e.issue, 1800, "new")
                fresh += 1
            elif kind == "seconds":
                e.seconds += 900
            elif kind == "comment":
                e.comment += " (edited)"
            elif kind == "issue":
                e.issue = (e.issue + 1) % ISSUES
            yield (
                RUN_ID, e.user_id, e.entry_id, e.day, e.issue_id, e.issue_key, e.seconds,
                e.started, e.comment, hashed(e.comment), "ok", None,
            )  # fmt: skip


def copy_rows(conn: psycopg.Connection, statement: str, rows: Iterator[tuple]) -> int:
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def load(conn: psycopg.Connection, shape: Shape) -> dict[str, Any]:
    """Schema, autovacuum off for the two tables, then both COPYs; rows and seconds."""
    from h2j.schema import ensure_schema
    from h2j.sql import sql

    ensure_schema(conn)
    for table in TABLES:
        statement = psql.SQL(NO_AUTOVACUUM).format(psql.Identifier("h2j", table))
        conn.execute(statement)
    started = time.monotonic()
    with conn.transaction():
        ledger = copy_rows(conn, LEDGER_COPY, ledger_rows(shape))
    with conn.transaction():
        staged = copy_rows(conn, sql("staging_copy"), staged_rows(shape))
    return {"ledger": ledger, "staged": staged, "seconds": time.monotonic() - started}


# --- the diff ----------------------------------------------------------------------------


@dataclass
class Pass:
    """One measurement of the diff under one state of the planner's statistics."""

    label: str
    write_seconds: float = 0.0
    recorded: int = 0
    explain_ms: float = 0.0
    workers: int = 0
    actions: Counter = field(default_factory=Counter)
    scans: list[str] = field(default_factory=list)
    spill_blocks: int = 0
    read_ms: list[float] = field(default_factory=list)
    read_scans: list[str] = field(default_factory=list)
    tree: list[str] = field(default_factory=list)
    load: str = ""


def params(user_ids: list[int]) -> dict[str, Any]:
    return {
        "run_id": RUN_ID,
        "site": SITE,
        "user_ids": user_ids,
        "from_date": FROM,
        "to_date": TO,
    }


def explain(conn: psycopg.Connection, statement: str, values: dict, serial=False) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of a statement, rolled back so that it changes nothing."""
    from h2j.sql import sql

    query = psql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + psql.SQL(statement)
    with conn.transaction(force_rollback=True):
        if serial:
            conn.execute(sql("serial_plans"))
        found = conn.execute(query, values).fetchone()[0]
    return (found if isinstance(found, list) else json.loads(found))[0]


def scans_of(node: dict[str, Any], found: list[str] | None = None) -> list[str]:
    """``Seq Scan on staging``, ``Index Scan using ledger_pkey`` ... for every scan node."""
    found = [] if found is None else found
    kind = node.get("Node Type", "")
    if "Scan" in kind or "Join" in kind or kind in ("Hash", "Sort", "Nested Loop"):
        found.append(node_name(node))
    for child in node.get("Plans") or []:
        scans_of(child, found)
    return found


def node_name(node: dict[str, Any]) -> str:
    what = node.get("Node Type", "")
    if node.get("Join Type") and ("Join" in what or what == "Nested Loop"):
        what = f"{what} ({node['Join Type']})"
    if node.get("Index Name"):
        what += f" using {node['Index Name']}"
    elif node.get("Relation Name"):
        what += f" on {node['Relation Name']}"
    return what


def plan_tree(node: dict[str, Any], depth: int = 0) -> list[str]:
    """The plan as indented lines: node, rows, time to its last row, batches, temp blocks."""
    line = (
        f"{'  ' * depth}{node_name(node)}: {int(node.get('Actual Rows', 0)):,} rows, "
        f"{float(node.get('Actual Total Time', 0)) / 1000:.1f} s"
    )
    if node.get("Workers Launched"):
        line += f", {node['Workers Launched']} parallel workers"
    if node.get("Hash Batches"):
        line += f", {node['Hash Batches']} batches"
    if node.get("Temp Written Blocks"):
        line += f", {int(node['Temp Written Blocks']):,} temp blocks written"
    lines = [line]
    for child in node.get("Plans") or []:
        lines += plan_tree(child, depth + 1)
    return lines


def measure(conn: psycopg.Connection, label: str, user_ids: list[int], args) -> Pass:
    """The diff as the ``diff`` task runs it, then an EXPLAIN ANALYZE of its SELECT."""
    from h2j.plan import write_plan
    from h2j.sql import sql

    started = time.monotonic()
    actions = write_plan(
        conn, run_id=RUN_ID, site=SITE, user_ids=user_ids, window={"from_date": FROM, "to_date": TO}
    )
    write_seconds = time.monotonic() - started

    plan = explain(conn, sql("plan_actions"), params(user_ids))
    result = Pass(
        label,
        write_seconds=write_seconds,
        recorded=conn.execute("SELECT count(*) FROM h2j.plan").fetchone()[0],
        actions=actions,
        explain_ms=float(plan["Execution Time"]),
        workers=workers_of(plan["Plan"]),
        scans=sorted(set(scans_of(plan["Plan"]))),
        spill_blocks=int(plan["Plan"].get("Temp Written Blocks") or 0),
        tree=plan_tree(plan["Plan"]),
    )
    measure_reads(conn, result, user_ids[:: max(1, len(user_ids) // args.load_users)])
    result.load = common.load_average()
    return result


def workers_of(node: dict[str, Any]) -> int:
    """Parallel workers PostgreSQL launched anywhere in the plan."""
    launched = int(node.get("Workers Launched") or 0)
    return launched + sum(workers_of(child) for child in node.get("Plans") or [])


def measure_reads(conn: psycopg.Connection, result: Pass, sampled: list[int]) -> None:
    """``plan_read`` for one person at a time, as each ``load`` task reads its plan."""
    from h2j.sql import sql

    for user_id in sampled:
        with conn.transaction():
            conn.execute(sql("serial_plans"))
            started = time.monotonic()
            conn.execute(sql("plan_read"), params([user_id])).fetchall()
            result.read_ms.append((time.monotonic() - started) * 1000)
    plan = explain(conn, sql("plan_read"), params(sampled[:1]), serial=True)
    result.read_scans = sorted(set(scans_of(plan["Plan"])))


def settings(conn: psycopg.Connection) -> str:
    names = ("server_version", "work_mem", "shared_buffers", "max_parallel_workers_per_gather")
    shown = [
        f"{n} {conn.execute(psql.SQL('SHOW {}').format(psql.Identifier(n))).fetchone()[0]}"
        for n in names
    ]
    return ", ".join(shown)


# --- output ------------------------------------------------------------------------------


def print_results(shape: Shape, loaded: dict, passes: list[Pass], server: str) -> None:
    print(f"## Diff: {loaded['ledger']:,} ledger rows x {loaded['staged']:,} staged rows\n")
    print(common.machine())
    print(f"postgres: {server}")
    print(
        f"data: {shape.users:,} users x {shape.entries} entries, one run; COPY of both "
        f"tables took {loaded['seconds']:.1f} s\n"
    )
    print(common.table(TIMING_HEADERS, [timing_row(p) for p in passes]))
    print()
    expected = shape.expected()
    unchanged = expected.pop("unchanged", 0)
    actions = sorted(set(expected) | {a for p in passes for a in p.actions})
    rows = [(a, expected[a], *(p.actions[a] for p in passes)) for a in actions]
    rows.append(("rows in h2j.plan", sum(expected.values()), *(p.recorded for p in passes)))
    print(common.table(("action", "expected", *(p.label for p in passes)), rows))
    print(f"\n{unchanged:,} entries are unchanged; the plan does not record them.")
    for p in passes:
        print(f"\n{p.label}: EXPLAIN (ANALYZE, BUFFERS) of the diff SELECT (plan_actions)")
        print("\n".join(f"    {line}" for line in p.tree))
        print(f"plan_read for one person uses: {'; '.join(p.read_scans)}")


TIMING_HEADERS = (
    "statistics", "EXPLAIN ANALYZE s", "write_plan s", f"under {TARGET_SECONDS:.0f} s",
    "parallel workers", "plan_read per person ms (median)", "temp blocks written",
    "load average",
)  # fmt: skip


def timing_row(p: Pass) -> tuple:
    return (
        p.label,
        round(p.explain_ms / 1000, 2),
        round(p.write_seconds, 2),
        "yes" if p.write_seconds < TARGET_SECONDS else "no",
        p.workers,
        round(statistics.median(p.read_ms), 1),
        p.spill_blocks,
        p.load,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.stop_cleanly_on_sigterm()
    shape = Shape(args.users, args.entries)
    user_ids = [FIRST_USER + user for user in range(shape.users)]
    with (
        common.scratch_database("h2j_bench_diff") as dsn,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        loaded = load(conn, shape)
        server = settings(conn)
        conn.execute("ANALYZE h2j.ledger")
        passes = [measure(conn, "staging fresh from COPY", user_ids, args)]
        passes.append(measure(conn, "again", user_ids, args))
    print_results(shape, loaded, passes, server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
