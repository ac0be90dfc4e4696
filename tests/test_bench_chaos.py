"""The chaos bench runs end to end: its own sandboxes, its own database, every figure."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg

from tests.conftest import ROOT

FIGURES = (
    "runs",
    "faults injected",
    "duplicates found",
    "hours lost",
    "ledger rows that disagree with Jira",
)


def figures_of(output: str) -> dict[str, float]:
    found = {}
    for name in FIGURES:
        match = re.search(rf"^{re.escape(name)}: ([0-9.]+)", output, re.MULTILINE)
        assert match, f"{name!r} is missing from:\n{output}"
        found[name] = float(match.group(1))
    return found


def chaos_databases(server: str) -> set[str]:
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'h2j_chaos_%'")
        return {row[0] for row in rows}


def test_two_scenarios_print_every_figure_and_leave_no_database(pg_server):
    before = chaos_databases(pg_server)
    env = {
        **os.environ,
        "H2J_PG_DSN": pg_server,
        "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}",
    }

    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--scenarios", "2", "--seed", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    figures = figures_of(done.stdout)
    assert done.stdout.startswith("scenarios: 2 in "), done.stdout
    assert figures["runs"] >= 2 * 2, "each scenario syncs at least twice"
    assert "crashed: 0" in done.stdout, done.stdout
    assert chaos_databases(pg_server) == before
