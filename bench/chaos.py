"""``python -m bench.chaos``: random fault scenarios against the real sync, and the damage.

Each scenario resets both sandboxes and the ledger, lets a few people log and edit time
between syncs that run under random faults (every kind the sandboxes inject, on worklog
writes and reads and on Harvest reads), then clears the faults, runs one clean sync a day
later and audits Jira and the ledger against Harvest (``bench.simulation.audit``).

Run it from the checkout with ``PYTHONPATH=plugins:.``. It starts its own sandboxes
(``python -m sandbox``) and creates its own database on the PostgreSQL that
``python -m tools.pg`` finds (or ``H2J_PG_DSN``), and drops it at the end. The figures
that should read zero: duplicates found, hours lost, ledger rows that disagree with Jira.
``--strict`` makes the exit status 1 when they do not.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from bench import simulation as sim

ROOT = Path(__file__).resolve().parent.parent
EDIT_WEIGHTS = {
    "log": 4,
    "timer": 1,
    "hours": 3,
    "repoint": 2,
    "redate": 1,
    "reword": 1,
    "delete": 2,
    "stop": 1,
}
FAULT_WEIGHTS = {"latency": 1, "error": 2, "rate_limit": 1, "reset": 2, "apply_then_fail": 3}
HOURS = (0.0, 0.01, 0.02, 0.5, 1.0, 2.0, 2.01, 2.02, 3.75, 8.0)
SHOWN_PROBLEMS = 12
# Audit findings beyond duplicates, strays, lost hours and the ledger (see Audit.kinds).
OTHER_PROBLEMS = ("started", "comment", "hand", "estimate", "spent")

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--people", type=int, default=2, choices=(1, 2, 3))
    parser.add_argument(
        "--steps", type=int, default=8, help="edits and syncs per scenario, at most"
    )
    parser.add_argument("--minutes", type=float, help="start no scenario after this many minutes")
    parser.add_argument(
        "--rerun-lost-answers",
        action="store_true",
        help="rerun at once, without faults, after a sync in which a write's answer was lost",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when damage was found")
    parser.add_argument("--verbose", action="store_true", help="show h2j's own log")
    return parser.parse_args(argv)


def random_edit(rng: random.Random, kind: str | None = None) -> sim.Edit:
    kind = kind or rng.choices(list(EDIT_WEIGHTS), weights=list(EDIT_WEIGHTS.values()))[0]
    hours = rng.choice(HOURS) if rng.random() < 0.5 else rng.randint(0, 1200) / 100
    return sim.Edit(
        kind=kind,
        pick=rng.randrange(40),
        hours=hours,
        link=rng.choice(sim.LINKS),
        issue=rng.randrange(len(sim.ISSUES)),
        day=rng.randint(1, 30),
    )


def random_fault(rng: random.Random) -> sim.Fault:
    """A fault rule, aimed at worklog writes two times in three: that is where damage is done."""
    kind = rng.choices(list(FAULT_WEIGHTS), weights=list(FAULT_WEIGHTS.values()))[0]
    writes = kind == "apply_then_fail" or rng.random() < 2 / 3
    targets = sim.WRITE_TARGETS if writes else tuple(sim.TARGETS)
    return sim.Fault(
        kind=kind,
        target=rng.choice(targets),
        rate=rng.choice((0.5, 1.0)),
        times=rng.choice((1, 2, 3, None)),
        skip=rng.choice((0, 0, 1, 2)),
        status=rng.choice((500, 502, 503, 504)),
        drop=rng.random() < 0.5,
        ms=rng.randint(5, 50),
    )


def random_steps(rng: random.Random, most: int) -> list[sim.Edit | sim.Sync]:
    """A few first entries, then edits and faulty syncs in random order."""
    steps = [random_edit(rng, "log") for _ in range(rng.randint(2, 5))]
    for _ in range(rng.randint(2, max(2, most))):
        if rng.random() < 0.4:
            faults = tuple(random_fault(rng) for _ in range(rng.randint(1, 3)))
            steps.append(sim.Sync(faults, rng.random() < 0.7, rng.randrange(1, 10_000)))
        else:
            steps.append(random_edit(rng))
    return steps


@dataclass
class Totals:
    """The figures across scenarios."""

    scenarios: int = 0
    runs: int = 0
    fired: Counter = field(default_factory=Counter)
    duplicates: int = 0
    strays: int = 0
    seconds_lost: int = 0
    seconds_extra: int = 0
    ledger_lies: int = 0
    other_problems: int = 0
    failed_final_syncs: int = 0
    damaged: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)

    def add(self, name: str, tally, final, audit) -> None:
        self.scenarios += 1
        self.runs += tally.syncs + 1
        for (kind, _target), count in tally.fired.items():
            self.fired[kind] += count
        self.duplicates += audit.duplicates
        self.strays += audit.orphans
        self.seconds_lost += audit.seconds_lost
        self.seconds_extra += audit.seconds_extra
        self.ledger_lies += audit.ledger_lies
        self.other_problems += sum(audit.kinds[kind] for kind in OTHER_PROBLEMS)
        self.failed_final_syncs += 0 if final.succeeded else 1
        if not audit.ok or not final.succeeded:
            failed = "; ".join(f"{k}: {v}" for k, v in final.failed.items())
            self.damaged.append(f"{name}: {'; '.join(audit.problems)} {failed}".strip())

    @property
    def damage(self) -> int:
        return self.duplicates + self.seconds_lost + self.ledger_lies


def run_scenario(sandboxes, office, dsn: str, rng: random.Random, args):
    sim.reset_ledger(dsn)
    cast = sim.setup_cast(sandboxes, office, people=args.people)
    rerun = sim.lost_answer if args.rerun_lost_answers else None
    tally = sim.play(sandboxes, office, cast, random_steps(rng, args.steps), rerun_when=rerun)
    final, audit = sim.finish(sandboxes, office, cast, dsn)
    return tally, final, audit


def run_all(sandboxes, office, dsn: str, args) -> tuple[Totals, float]:
    totals = Totals()
    started = time.monotonic()
    for index in range(args.scenarios):
        if args.minutes and time.monotonic() - started > args.minutes * 60:
            break
        name = f"scenario {index} (--seed {args.seed})"
        rng = random.Random(f"{args.seed}/{index}")
        try:
            totals.add(name, *run_scenario(sandboxes, office, dsn, rng, args))
        except Exception as exc:
            log.exception("%s crashed", name)
            totals.crashed.append(f"{name}: {type(exc).__name__}: {exc}")
        if (index + 1) % 10 == 0:
            print(f"... {index + 1} scenarios", file=sys.stderr, flush=True)
    return totals, time.monotonic() - started


def print_figures(totals: Totals, elapsed: float) -> None:
    each = elapsed / totals.scenarios if totals.scenarios else 0.0
    fired = ", ".join(f"{kind} {n}" for kind, n in sorted(totals.fired.items())) or "none"
    lines = [
        f"scenarios: {totals.scenarios} in {elapsed:.0f} s ({each:.1f} s per scenario)",
        f"runs: {totals.runs}",
        f"faults injected: {sum(totals.fired.values())} ({fired})",
        f"duplicates found: {totals.duplicates}",
        f"hours lost: {totals.seconds_lost / 3600:.2f}",
        f"ledger rows that disagree with Jira: {totals.ledger_lies}",
        f"stray worklogs (hours Harvest no longer links there): {totals.strays}",
        f"hours extra in Jira: {totals.seconds_extra / 3600:.2f}",
        f"other audit problems (estimates, dates, comments, hand-made worklogs): "
        f"{totals.other_problems}",
        f"final clean syncs that failed: {totals.failed_final_syncs}",
        f"scenarios with damage: {len(totals.damaged)}; crashed: {len(totals.crashed)}",
    ]
    print("\n".join(lines), flush=True)
    for problem in (totals.damaged + totals.crashed)[:SHOWN_PROBLEMS]:
        print(f"  {problem[:600]}", flush=True)


def server_dsn() -> str:
    if os.environ.get("H2J_PG_DSN"):
        return os.environ["H2J_PG_DSN"]
    found = subprocess.run(
        [sys.executable, "-m", "tools.pg"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return found.stdout.strip()


def create_database(server: str) -> tuple[str, str]:
    name = f"h2j_chaos_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, psycopg.conninfo.make_conninfo(server, dbname=name)


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        admin.execute(query.format(sql.Identifier(name)))


def start_sandbox(ready: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """``python -m sandbox`` on free ports, without Harvest's rate limit; its two URLs."""
    command = [sys.executable, "-m", "sandbox", "--harvest-port", "0", "--jira-port", "0"]
    command += ["--no-rate-limit", "--ready-file", str(ready)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ready.exists():
            return process, json.loads(ready.read_text())
        if process.poll() is not None:
            raise RuntimeError(f"python -m sandbox exited with {process.returncode}")
        time.sleep(0.1)
    stop_sandbox(process)
    raise TimeoutError("the sandboxes did not start within 60 s")


def stop_sandbox(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def prepare_process(verbose: bool) -> None:
    """A project-local Airflow home, set before anything imports Airflow, and quiet logs.

    Faults make h2j log errors by design; unless asked, only a crash of the bench shows.
    Airflow sets logging up when it is imported, so the logs are turned down after that.
    """
    home = ROOT / ".airflow" / "bench"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    importlib.import_module("h2j.flow")
    if not verbose:
        import structlog

        logging.disable(logging.ERROR)
        # Hooks log through structlog straight to stdout, past the standard library's levels.
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prepare_process(args.verbose)
    server = server_dsn()
    name, dsn = create_database(server)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            process, urls = start_sandbox(Path(scratch) / "ready.json")
            try:
                sandboxes = sim.Sandboxes(urls["harvest"], urls["jira"])
                env = sim.sync_env(urls["harvest"], urls["jira"], dsn)
                with sim.environment(env), sim.quick_retries():
                    totals, elapsed = run_all(sandboxes, sim.Office(sandboxes), dsn, args)
            finally:
                stop_sandbox(process)
    finally:
        drop_database(server, name)
    print_figures(totals, elapsed)
    return 1 if args.strict and (totals.damage or totals.crashed) else 0


if __name__ == "__main__":
    sys.exit(main())
