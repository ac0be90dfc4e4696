"""``python -m bench.extract``: one person's big month through h2j's extract, and its memory.

The Harvest sandbox is loaded directly (``/_sandbox/state``) with one person holding
20,000 entries (default) in November 2026, and ``h2j.flow.extract`` stages them into a
fresh ledger database, as the person's ``extract`` task would. The extract is run twice:
once plain, for the time and the growth of the process's peak resident size
(``ru_maxrss``), and once under ``tracemalloc``, which slows Python down but gives the
peak of memory allocated by Python during the extract. Entries are streamed a page
(2,000 entries) at a time, so the peak should follow the page size, not the month.

Run from the checkout with ``PYTHONPATH=plugins:.``; it starts its own sandboxes and
database and drops the database at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing
import resource
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench import common

MONTH = "2026-11"
WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}
PARAMS = {"dry_run": False, "adjust_estimate": "auto", "confirm_deletions": False}
RUN_DAY = dt.date(2026, 12, 1)
RUN_ID = "scheduled__2026-12-01T00:00:00+00:00"
TARGET_MB = 200
MB = 2**20
PAGES_ROUTE = "GET /v2/time_entries"
LOOKUP_ROUTE = "GET /rest/api/3/issue/{issueIdOrKey}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.extract", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verbose", action="store_true", help="show h2j's own log")
    return parser.parse_args(argv)


@dataclass
class Extracted:
    """One extract of the person: what it staged, what it asked for, what it cost."""

    staged: int
    pages: int
    lookups: int
    seconds: float
    cpu_seconds: float
    maxrss_before: int
    maxrss_after: int
    traced_peak: int | None = None

    @property
    def rows_per_second(self) -> float:
        return self.staged / self.seconds if self.seconds else 0.0


def maxrss() -> int:
    """The process's peak resident size so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load_person(urls: dict[str, str], entries: int, seed: int) -> dict[str, Any]:
    """The one-person account in both sandboxes; the Harvest user."""
    from sandbox import sample

    data = sample.generate(seed=seed, people=1, month=MONTH, entries_per_person=entries)
    for service in ("harvest", "jira"):
        common.admin(urls[service], "PUT", "/state", json=data[service])
    return data["harvest"]["users"][0]


def extract_once(urls: dict[str, str], user: dict, projects: list[str], run_id: str, traced: bool):
    from h2j import flow

    common.forget_requests(urls["harvest"], urls["jira"])
    before = maxrss()
    if traced:
        tracemalloc.start()
    started, cpu = time.monotonic(), time.process_time()
    try:
        summary = flow.extract(user, WINDOW, projects, run_id, PARAMS)
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] if traced else None
    finally:
        if traced:
            tracemalloc.stop()
    harvest = common.requests_seen(urls["harvest"])
    jira = common.requests_seen(urls["jira"])
    return Extracted(
        staged=int(summary["entries"]),
        pages=harvest.get(PAGES_ROUTE, 0),
        lookups=jira.get(LOOKUP_ROUTE, 0),
        seconds=seconds,
        cpu_seconds=cpu,
        maxrss_before=before,
        maxrss_after=maxrss(),
        traced_peak=peak,
    )


def load_elsewhere(urls: dict[str, str], entries: int, seed: int) -> dict[str, Any]:
    """Generate and load the account in a child process.

    ``ru_maxrss`` only ever grows: building 20,000 entries here would raise it past what
    the extract needs and hide the extract's own peak.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(load_person, urls, entries, seed).result()


def run(args: argparse.Namespace) -> tuple[list[Extracted], str]:
    from bench import simulation as sim
    from h2j import flow

    with common.scratch_database("h2j_bench_extract") as dsn, common.sandbox() as urls:
        person = load_elsewhere(urls, args.entries, args.seed)
        with sim.environment(sim.sync_env(urls["harvest"], urls["jira"], dsn)):
            flow.prepare(WINDOW["from_date"], WINDOW["to_date"], RUN_DAY)
            projects = flow.known_projects()
            user = flow.user_summary(person)
            passes = [
                extract_once(urls, user, projects, RUN_ID, traced=False),
                extract_once(urls, user, projects, RUN_ID, traced=False),
            ]
            load = common.load_average()
            passes.append(extract_once(urls, user, projects, RUN_ID, traced=True))
    return passes, load


def print_results(args: argparse.Namespace, passes: list[Extracted], load: str) -> None:
    cold, warm, traced = passes
    grown = warm.maxrss_after - cold.maxrss_before
    peak = traced.traced_peak or 0
    within = "yes" if max(grown, peak) < TARGET_MB * MB else "no"
    rows = [
        ("entries staged", cold.staged),
        ("Harvest pages fetched (GET /v2/time_entries)", cold.pages),
        ("Jira issue lookups (first extract of the run)", cold.lookups),
        ("Jira issue lookups (extract again, lookups cached)", warm.lookups),
        ("extract wall time, s (first / again)", f"{cold.seconds:.2f} / {warm.seconds:.2f}"),
        (
            "rows staged per second (first / again)",
            f"{cold.rows_per_second:,.0f} / {warm.rows_per_second:,.0f}",
        ),
        (
            "CPU seconds of this process (first / again)",
            f"{cold.cpu_seconds:.2f} / {warm.cpu_seconds:.2f}",
        ),
        ("rows staged per second under tracemalloc", round(traced.rows_per_second)),
        ("tracemalloc peak during the extract, MB", round(peak / MB, 1)),
        ("ru_maxrss before the extract, MB", round(cold.maxrss_before / MB, 1)),
        ("ru_maxrss after the extracts, MB", round(warm.maxrss_after / MB, 1)),
        ("ru_maxrss growth during the extracts, MB", round(grown / MB, 1)),
        (f"growth under {TARGET_MB} MB", within),
        (
            f"whole process peak under {TARGET_MB} MB",
            "yes" if warm.maxrss_after < TARGET_MB * MB else "no",
        ),
        ("load average (1/5/15 min)", load),
    ]
    print(f"## Extract: one person, {args.entries:,} entries in {MONTH}\n")
    print(common.machine())
    print()
    print(common.table(("figure", "value"), rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.stop_cleanly_on_sigterm()
    common.fresh_airflow_home("extract")
    import h2j.flow  # noqa: F401  (Airflow sets its logging up on import; quiet it after)

    if not args.verbose:
        logging.disable(logging.CRITICAL)
    print_results(args, *run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
