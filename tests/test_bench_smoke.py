"""The four performance benches run end to end at a tiny size and print every table.

Each bench is started as ``python -m bench.<name>`` the way README tells a person to run
it, with its own sandboxes and database. Only the shape of the output and the consistency
of its figures are checked, never a time: the benches report times, they do not judge them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg
import pytest

from tests.conftest import ROOT

NUMBER = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?x?$")


def run_bench(pg_server: str, *args: str, timeout: int = 280) -> str:
    env = {
        **os.environ,
        "H2J_PG_DSN": pg_server,
        "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}",
    }
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def tables(output: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in ``output``, each as a list of rows keyed by header."""
    found, lines = [], output.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].startswith("| ") and index + 1 < len(lines) and "---" in lines[index + 1]:
            headers = _cells(lines[index])
            rows = []
            index += 2
            while index < len(lines) and lines[index].startswith("| "):
                rows.append(dict(zip(headers, _cells(lines[index]), strict=True)))
                index += 1
            found.append(rows)
        else:
            index += 1
    return found


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def number(text: str) -> float:
    assert NUMBER.match(text), f"{text!r} is not a number"
    return float(text.replace(",", "").rstrip("x"))


def bench_databases(server: str) -> set[str]:
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'h2j_bench_%'")
        return {row[0] for row in rows}


@pytest.fixture
def no_leftover_database(pg_server):
    before = bench_databases(pg_server)
    yield
    assert bench_databases(pg_server) <= before, "a bench left its database behind"


@pytest.mark.usefixtures("no_leftover_database")
def test_requests_bench_sets_each_count_beside_its_minimum(pg_server):
    output = run_bench(pg_server, "bench.requests", "--people", "2", "--entries", "10")

    *phases, summary = tables(output)
    assert [row["run"] for row in summary] == [
        "first sync",
        "rerun, nothing changed",
        "rerun after 5% edited",
    ]
    for rows in phases:
        kinds = {row["requests"]: row for row in rows}
        for fixed in ("project/search pages (fixed)", "worklog/updated feed pages (fixed)"):
            assert number(kinds[fixed]["minimum"]) >= 1
        listed = [row for row in rows if row["service"]]
        total = kinds["all requests"]
        assert number(total["made"]) == sum(number(row["made"]) for row in listed)
        assert number(total["minimum"]) == sum(number(row["minimum"]) for row in listed)
    first = {row["requests"]: row for row in phases[0]}
    assert number(first["users listing"]["made"]) == 1
    assert number(first["time entry pages"]["minimum"]) == 2


@pytest.mark.usefixtures("no_leftover_database")
def test_diff_bench_plans_exactly_the_changes_it_loaded(pg_server):
    output = run_bench(
        pg_server, "bench.diff", "--users", "20", "--entries", "50", "--load-users", "2"
    )

    assert output.startswith("## Diff: 1,000 ledger rows x 1,000 staged rows")
    timings, actions = tables(output)
    passes = [row["statistics"] for row in timings]
    assert passes == ["staging fresh from COPY", "again"]
    for row in timings:
        assert number(row["write_plan s"]) >= 0
        assert number(row["plan_read per person ms (median)"]) > 0
    for row in actions:
        expected = number(row["expected"])
        for label in passes:
            assert number(row[label]) == expected, row
    assert {row["action"] for row in actions} >= {"create", "update", "move", "verify"}
    assert "unchanged" not in {row["action"] for row in actions}
    assert "again: EXPLAIN (ANALYZE, BUFFERS) of the diff SELECT" in output


@pytest.mark.usefixtures("no_leftover_database")
def test_extract_bench_stages_every_entry_and_reports_memory(pg_server):
    output = run_bench(pg_server, "bench.extract", "--entries", "300")

    [rows] = tables(output)
    figures = {row["figure"]: row["value"] for row in rows}
    assert number(figures["entries staged"]) == 300
    assert number(figures["Harvest pages fetched (GET /v2/time_entries)"]) == 1
    assert number(figures["Jira issue lookups (extract again, lookups cached)"]) == 0
    assert number(figures["tracemalloc peak during the extract, MB"]) > 0
    assert number(figures["ru_maxrss before the extract, MB"]) > 0
    assert figures["growth under 200 MB"] in ("yes", "no")


@pytest.mark.timeout(900)
@pytest.mark.usefixtures("no_leftover_database")
def test_run_bench_times_a_first_sync_and_a_rerun(pg_server):
    output = run_bench(
        pg_server, "bench.run", "--people", "2", "--entries", "5", "--latency-ms", "1", timeout=880
    )

    [rows] = tables(output)
    assert [(row["people"], row["run"]) for row in rows] == [
        ("2", "first sync"),
        ("2", "rerun, no change"),
    ]
    for row in rows:
        assert row["state"] == "success", row
        assert number(row["wall s"]) > 0
        assert number(row["task instances"]) == 10
    assert number(rows[1]["Jira writes"]) == 0
    assert "warm-up run over an empty account" in output
