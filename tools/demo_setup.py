"""The local ground ``make demo`` stands on: ledger database, Airflow home, sandboxes.

Each helper prepares or starts one thing and says where its log is when it fails, so the
orchestration in :mod:`tools.demo` reads as the steps a person sees.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from tools.demo_text import DemoError

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / ".h2j" / "demo"


def airflow_defaults() -> dict[str, str]:
    """What the Makefile exports, so ``python -m tools.demo`` alone behaves the same."""
    return {
        "AIRFLOW_HOME": str(ROOT / ".airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    }


def server_dsn() -> str:
    """``H2J_PG_DSN`` as make exports it, else whatever server ``tools.pg`` finds."""
    if os.environ.get("H2J_PG_DSN"):
        return os.environ["H2J_PG_DSN"]
    found = subprocess.run(
        [sys.executable, "-m", "tools.pg"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return found.stdout.strip()


def fresh_database(server: str, name: str) -> str:
    """Drop and create database ``name`` on ``server``; return a DSN for it."""
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(server, dbname=name)


def postgres_connection(dsn: str) -> str:
    """The ``h2j_postgres`` connection in Airflow's JSON form."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    conn = {
        "conn_type": "postgres",
        "host": info.get("host") or "127.0.0.1",
        "port": int(info.get("port") or 5432),
        "login": info.get("user") or "postgres",
        "password": info.get("password"),
        "schema": info["dbname"],
    }
    return json.dumps(conn)


def metadata_ready(home: Path) -> bool:
    """True when Airflow's default sqlite metadata database already carries its schema."""
    path = home / "airflow.db"
    if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or not path.exists():
        return False
    try:
        with closing(sqlite3.connect(path)) as db:
            return bool(db.execute("SELECT version_num FROM alembic_version").fetchall())
    except sqlite3.Error:
        return False


def run_logged(args: list[str], log_path: Path, timeout: float) -> int:
    """Run a command with its output in ``log_path``; return its exit code."""
    with log_path.open("w", encoding="utf-8") as log:
        try:
            done = subprocess.run(
                args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise DemoError(
                f"{' '.join(args[1:4])} ran over {timeout:.0f} s; see {log_path}"
            ) from exc
    return done.returncode


def prepare_airflow() -> None:
    home = Path(os.environ["AIRFLOW_HOME"])
    if metadata_ready(home):
        return
    home.mkdir(parents=True, exist_ok=True)
    log_path = WORK_DIR / "airflow-db-migrate.log"
    print(f"    Creating Airflow's metadata database in {home} (once) ...", flush=True)
    if run_logged([sys.executable, "-m", "airflow", "db", "migrate"], log_path, 300):
        raise DemoError(f"airflow db migrate failed; see {log_path}")


def wait_for_urls(ready: Path, process: subprocess.Popen, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready.exists():
            return json.loads(ready.read_text(encoding="utf-8"))
        if process.poll() is not None:
            raise DemoError(f"the sandbox exited early; see {WORK_DIR / 'sandbox.log'}")
        time.sleep(0.1)
    raise DemoError(f"the sandbox did not start within {seconds:.0f} s")


@contextmanager
def sandbox(month: str) -> Iterator[dict[str, str]]:
    """Both sandbox servers with the sample for ``month``, stopped with SIGTERM on exit."""
    ready = WORK_DIR / "sandbox-ready.json"
    ready.unlink(missing_ok=True)
    args = [sys.executable, "-m", "sandbox", "--sample", "--month", month]
    args += ["--harvest-port", "0", "--jira-port", "0", "--ready-file", str(ready)]
    with (WORK_DIR / "sandbox.log").open("w", encoding="utf-8") as log:
        process = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield wait_for_urls(ready, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
