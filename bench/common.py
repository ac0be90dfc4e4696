"""What the performance benches share: a scratch database, the sandbox process, the machine.

Every bench creates its own database on the PostgreSQL server that ``python -m tools.pg``
finds (or ``H2J_PG_DSN``) and drops it at the end, and starts its own ``python -m sandbox``
on free ports, so two benches (or a bench and the test suite) never share state. Tables are
printed as Markdown, so that a figure can be pasted into README as it was printed.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TIMEOUT = 120


def server_dsn() -> str:
    """The PostgreSQL server the benches create their databases on."""
    if os.environ.get("H2J_PG_DSN"):
        return os.environ["H2J_PG_DSN"]
    found = subprocess.run(
        [sys.executable, "-m", "tools.pg"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return found.stdout.strip()


@contextmanager
def scratch_database(prefix: str, server: str | None = None) -> Iterator[str]:
    """A new, empty database named ``<prefix>_<random>``; its DSN; dropped at the end."""
    server = server or server_dsn()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))


@contextmanager
def sandbox(rate_limit: bool = False) -> Iterator[dict[str, str]]:
    """``python -m sandbox`` on free ports until the block ends; its ``harvest``/``jira`` URLs.

    Harvest's 100 requests per 15 s is off unless ``rate_limit``: a bench that counts
    requests or loads data through the API should not wait out a limit it is not measuring.
    """
    with tempfile.TemporaryDirectory(prefix="h2j-bench-") as scratch:
        ready = Path(scratch) / "ready.json"
        command = [sys.executable, "-m", "sandbox", "--harvest-port", "0", "--jira-port", "0"]
        command += ["--ready-file", str(ready)]
        if not rate_limit:
            command.append("--no-rate-limit")
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            yield _wait_ready(ready, process)
        finally:
            _stop(process)


def _wait_ready(ready: Path, process: subprocess.Popen) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ready.exists():
            return json.loads(ready.read_text())
        if process.poll() is not None:
            raise RuntimeError(f"python -m sandbox exited with {process.returncode}")
        time.sleep(0.05)
    raise TimeoutError("the sandboxes did not start within 60 s")


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_cleanly_on_sigterm() -> None:
    """Make SIGTERM raise KeyboardInterrupt, so a bench that is stopped still drops its
    database and stops its sandbox on the way out (a background job ignores SIGINT)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def admin(base_url: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A call to a sandbox's ``/_sandbox`` admin API; raises on an error status."""
    response = requests.request(
        method, f"{base_url}/_sandbox{path}", timeout=ADMIN_TIMEOUT, **kwargs
    )
    response.raise_for_status()
    return response


def requests_seen(base_url: str) -> dict[str, int]:
    """Requests the sandbox served since its counters were last cleared, by route."""
    return admin(base_url, "GET", "/requests").json()["by_route"]


def forget_requests(*base_urls: str) -> None:
    for url in base_urls:
        admin(url, "DELETE", "/requests")


def fresh_airflow_home(label: str) -> Path:
    """A private Airflow home for this process, removed at exit; call before Airflow loads.

    Connections come from ``AIRFLOW_CONN_*`` variables, so nothing in the home is needed
    except by ``dag.test()``, which migrates its own metadata database into it.
    """
    parent = ROOT / ".airflow"
    parent.mkdir(exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"bench-{label}-", dir=parent))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    return home


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` shows them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> str:
    """One line naming what the figures were measured on."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"machine: {os.cpu_count()} cores, {memory:.1f} GiB memory, "
        f"load average {load_average()} (1/5/15 min), Python {sys.version.split()[0]}"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table with padded columns, numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        padded = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(row, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(_rule(w, n) for w, n in zip(widths, numeric, strict=True)) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _rule(width: int, numeric: bool) -> str:
    """The rule under a header; a colon on the right marks a right-aligned column."""
    return "-" * (width + 1) + ":" if numeric else "-" * (width + 2)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def _is_number(text: str) -> bool:
    stripped = text.replace(",", "").replace("x", "").strip()
    if not stripped or stripped in ("-", "—"):
        return True
    try:
        float(stripped)
    except ValueError:
        return False
    return True


def ratio(actual: int, minimum: int) -> str:
    """``actual / minimum`` as ``1.00x``; ``-`` when both are 0, ``inf`` when only one is."""
    if minimum == 0:
        return "-" if actual == 0 else "inf"
    return f"{actual / minimum:.2f}x"
