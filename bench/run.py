"""``python -m bench.run``: wall time of whole DAG runs as the team grows, over a slow network.

For each team size (default 10, 50 and 200 people, 40 entries each in November 2026) the
sandboxes get a generated account, every API request is slowed by 20 ms (a ``latency``
fault rule on both servers), and ``harvest_to_jira`` runs twice with ``dag.test()`` in a
fresh Airflow home: a first sync into an empty ledger, then a rerun a day later with
nothing changed. Harvest's limit of 100 requests per 15 s stays on, in the sandbox and in
h2j, as it would be in production. The sample's closed issue is reopened so that runs end
green; the cost of entries Jira refuses is ``bench.requests``' subject.

``dag.test()`` runs every task instance one after another in this process, so the figures
are those of a single worker slot. Run from the checkout with ``PYTHONPATH=plugins:.``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bench import common

MONTH = "2026-11"
CONF = {
    "from_date": "2026-11-01",
    "to_date": "2026-11-30",
    "users": None,
    "dry_run": False,
    "adjust_estimate": None,
    "confirm_deletions": False,
    "author_mode": None,
}
RUN_DAY = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
WRITES = ("POST", "PUT", "DELETE")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--entries", type=int, default=40, help="entries per person")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verbose", action="store_true", help="show Airflow's and h2j's log")
    return parser.parse_args(argv)


@dataclass
class Timed:
    """One DAG run: how long, how it ended, how many task instances and requests."""

    seconds: float
    state: str
    tasks: int
    harvest: int
    jira: int
    jira_writes: int
    load: str

    @property
    def requests(self) -> int:
        return self.harvest + self.jira


@dataclass
class Size:
    people: int
    entries: int
    worklogs: int
    first: Timed
    rerun: Timed


def load_account(urls: dict[str, str], people: int, args: argparse.Namespace) -> dict:
    """A fresh generated account with every issue open, and the latency rule on both."""
    from sandbox import sample

    data = sample.generate(
        seed=args.seed, people=people, month=MONTH, entries_per_person=args.entries
    )
    for issue in data["jira"]["issues"]:
        issue["closed"] = False
    rules = {"rules": [{"kind": "latency", "ms": args.latency_ms}]}
    for service in ("harvest", "jira"):
        common.admin(urls[service], "POST", "/reset")
        common.admin(urls[service], "PUT", "/state", json=data[service])
        common.admin(urls[service], "PUT", "/faults", json=rules)
    return sample.state_summary(data)


@contextmanager
def silenced(quiet: bool) -> Iterator[None]:
    """Send this process's stdout and stderr to /dev/null for a while.

    ``dag.test()`` prints every task's log through handlers that hold the file descriptors,
    so only redirecting the descriptors themselves keeps the bench's table readable.
    """
    if not quiet:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def timed_run(dag, urls: dict[str, str], logical: dt.datetime, quiet: bool = True) -> Timed:
    common.forget_requests(urls["harvest"], urls["jira"])
    started = time.monotonic()
    with silenced(quiet):
        dagrun = dag.test(logical_date=logical, run_conf=dict(CONF))
    seconds = time.monotonic() - started
    harvest = common.requests_seen(urls["harvest"])
    jira = common.requests_seen(urls["jira"])
    return Timed(
        seconds=seconds,
        state=str(dagrun.state),
        tasks=len(dagrun.get_task_instances()),
        harvest=sum(harvest.values()),
        jira=sum(jira.values()),
        jira_writes=sum(n for route, n in jira.items() if _is_write(route)),
        load=common.load_average(),
    )


def _is_write(route: str) -> bool:
    method, _, path = route.partition(" ")
    return method in WRITES and "/worklog/list" not in path


def measure(dag, urls: dict[str, str], people: int, args, number: int) -> Size:
    from bench import simulation as sim

    with common.scratch_database("h2j_bench_run") as dsn:
        summary = load_account(urls, people, args)
        with sim.environment(sim.sync_env(urls["harvest"], urls["jira"], dsn)):
            quiet = not args.verbose
            first = timed_run(dag, urls, RUN_DAY + dt.timedelta(minutes=2 * number + 2), quiet)
            common.admin(urls["jira"], "POST", "/clock/advance", json={"seconds": 61})
            rerun = timed_run(dag, urls, RUN_DAY + dt.timedelta(minutes=2 * number + 3), quiet)
            worklogs = len(common.admin(urls["jira"], "GET", "/state").json()["worklogs"])
    return Size(people, summary["time_entries"], worklogs, first, rerun)


def warm_up(dag, urls: dict[str, str], quiet: bool) -> Timed:
    """One run over an empty account, not counted: the first ``dag.test()`` of a process
    also serialises the DAG and starts Airflow's in-process services."""
    from bench import simulation as sim

    for service in ("harvest", "jira"):
        common.admin(urls[service], "POST", "/reset")
    with common.scratch_database("h2j_bench_run") as dsn:
        with sim.environment(sim.sync_env(urls["harvest"], urls["jira"], dsn)):
            return timed_run(dag, urls, RUN_DAY, quiet)


def load_dag():
    """The DAG from the checkout, in a freshly migrated metadata database, retries off.

    ``dag.test()`` would wait out a task's two-minute retry delay in this process.
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.resetdb()
    bag = DagBag(dag_folder=str(common.ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"the DAG does not import: {bag.import_errors}")
    dag = bag.dags["harvest_to_jira"]
    for task in dag.tasks:
        task.retries = 0
    return dag


# --- output ------------------------------------------------------------------------------


def fit(sizes: list[Size], pick) -> tuple[float, float] | None:
    """Least squares ``seconds = a + b * people`` through the measured sizes."""
    if len(sizes) < 2:
        return None
    xs = [s.people for s in sizes]
    ys = [pick(s).seconds for s in sizes]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if not spread:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return mean_y - slope * mean_x, slope


def print_results(args: argparse.Namespace, sizes: list[Size]) -> None:
    print(f"## Whole DAG runs, {args.latency_ms} ms added to every API request\n")
    print(common.machine())
    print()
    rows = []
    for size in sizes:
        for label, run in (("first sync", size.first), ("rerun, no change", size.rerun)):
            floor = run.requests * args.latency_ms / 1000
            rows.append(
                (
                    size.people, size.entries, label, round(run.seconds, 1),
                    round(run.seconds / size.people, 2), run.tasks, run.harvest, run.jira,
                    run.jira_writes, round(floor, 1), run.state, run.load,
                )
            )  # fmt: skip
    headers = (
        "people", "entries", "run", "wall s", "s per person", "task instances",
        "Harvest requests", "Jira requests", "Jira writes", "latency floor s", "state",
        "load average",
    )  # fmt: skip
    print(common.table(headers, rows))
    print_growth(args, sizes)


def print_growth(args: argparse.Namespace, sizes: list[Size]) -> None:
    print()
    for label, pick in (("first sync", lambda s: s.first), ("rerun", lambda s: s.rerun)):
        line = fit(sizes, pick)
        if line is None:
            print(f"{label}: too few sizes measured to fit a line")
            continue
        base, per_person = line
        largest = max(s.people for s in sizes)
        guesses = [p for p in (50, 200, 1000) if p > largest] if per_person > 0 else []
        guessed = ", ".join(f"{p} people ~{base + per_person * p:.0f} s" for p in guesses)
        print(
            f"{label}: {per_person:.2f} s per person (least squares over {len(sizes)} sizes, "
            f"intercept {base:.0f} s){'; extrapolated: ' + guessed if guessed else ''}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.stop_cleanly_on_sigterm()
    common.fresh_airflow_home("run")
    import airflow.sdk  # noqa: F401  (Airflow sets its logging up on import; quiet it after)

    if not args.verbose:
        logging.disable(logging.CRITICAL)
    with silenced(not args.verbose):
        dag = load_dag()
    sizes: list[Size] = []
    with common.sandbox(rate_limit=True) as urls:
        warm = warm_up(dag, urls, not args.verbose)
        for number, people in enumerate(args.people):
            sizes.append(measure(dag, urls, people, args, number))
    print_results(args, sizes)
    print(f"warm-up run over an empty account (not counted): {warm.seconds:.1f} s, {warm.state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
