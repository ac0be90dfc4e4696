"""Shared fixtures: a private Airflow home, a throwaway ledger database, the sandboxes.

The environment is set at import time, before anything imports Airflow, so that every
test sees the checkout's dags and plugins folders and a project-local metadata database.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
# One Airflow home per pytest session, so that sessions running side by side never reset
# each other's metadata database.
(ROOT / ".airflow").mkdir(exist_ok=True)
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="test-", dir=ROOT / ".airflow"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__PARALLELISM"] = "4"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
for path in (str(ROOT / "plugins"), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)

pytest_plugins = ["tests.fixtures.sandbox", "tests.fixtures.dagrun"]


def server_dsn() -> str:
    """README's test command exports H2J_PG_DSN; run alone, pytest finds a server itself."""
    dsn = os.environ.get("H2J_PG_DSN")
    if dsn:
        return dsn
    found = subprocess.run(
        [sys.executable, "-m", "tools.pg"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return found.stdout.strip()


@pytest.fixture(scope="session")
def pg_server() -> str:
    return server_dsn()


@pytest.fixture
def ledger_dsn(pg_server, monkeypatch) -> str:
    """A fresh database for one test, reachable as the ``h2j_postgres`` connection."""
    name = f"h2j_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(pg_server)
    dsn = psycopg.conninfo.make_conninfo(pg_server, dbname=name)
    monkeypatch.setenv(
        "AIRFLOW_CONN_H2J_POSTGRES",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": info.get("host", "127.0.0.1"),
                "port": int(info.get("port", 5432)),
                "login": info.get("user", "postgres"),
                "password": info.get("password"),
                "schema": name,
            }
        ),
    )
    yield dsn
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database, migrated once for the session (sqlite, about 1 s)."""
    from airflow.utils import db

    db.resetdb()
    return AIRFLOW_HOME


def wait_for_file(path: Path, process: subprocess.Popen, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {path}")
        time.sleep(0.05)
    raise TimeoutError(f"{path} did not appear within {seconds} s")
