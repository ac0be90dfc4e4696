"""Airflow the way a team deploys it: api-server, scheduler, dag-processor, Celery workers.

Every component is its own process in its own process group, and all of them share one
PostgreSQL metadata database, a Redis broker and a temporary ``AIRFLOW_HOME``. A test then
sees what a CeleryExecutor deployment does: the tasks of one run spread over separate
worker processes that reach Airflow only through the api-server's execution API, runs
triggered and cleared over the REST API, backfills created with the CLI.

The broker is ``H2J_REDIS_URL`` (default ``redis://127.0.0.1:6379/7``). Each cluster takes
its own Celery queue on it, so clusters of sessions running side by side on one Redis
never run each other's tasks. Used by ``tests/test_scale_out.py`` and
``tools/screenshot.py``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import redis
import requests
from psycopg import sql

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "harvest_to_jira"
DONE = ("success", "failed")
REDIS_URL = os.environ.get("H2J_REDIS_URL", "redis://127.0.0.1:6379/7")


def free_port() -> int:
    """A port nothing listens on now; the api-server binds it a moment later."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def create_database(server_dsn: str, prefix: str) -> str:
    """A new empty database on the server; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(server_dsn: str, name: str) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def sqlalchemy_url(server_dsn: str, dbname: str, driver: str = "postgresql+psycopg2") -> str:
    """The SQLAlchemy URL of database ``dbname`` on the server a libpq DSN names."""
    info = psycopg.conninfo.conninfo_to_dict(server_dsn)
    auth = quote(str(info.get("user") or "postgres"), safe="")
    if info.get("password"):
        auth += ":" + quote(str(info["password"]), safe="")
    host = info.get("host") or "127.0.0.1"
    return f"{driver}://{auth}@{host}:{info.get('port') or 5432}/{dbname}"


def ledger_connection(server_dsn: str, dbname: str) -> str:
    """``AIRFLOW_CONN_H2J_POSTGRES`` in Airflow's JSON form for database ``dbname``."""
    info = psycopg.conninfo.conninfo_to_dict(server_dsn)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": info.get("host") or "127.0.0.1",
            "port": int(info.get("port") or 5432),
            "login": info.get("user") or "postgres",
            "password": info.get("password"),
            "schema": dbname,
        }
    )


@dataclass
class Component:
    """One Airflow process: its command line, extra environment and log file."""

    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def log_path(self, home: Path) -> Path:
        return home / "processes" / f"{self.name}.log"


class AirflowCluster:
    """A CeleryExecutor deployment of the checkout's DAGs, driven over REST and the CLI.

    ``connections`` are extra environment variables (the ``AIRFLOW_CONN_*`` of h2j).
    Start it with :func:`running_cluster`, which always stops every process.
    """

    def __init__(
        self,
        home: Path,
        metadata_url: str,
        connections: dict[str, str],
        workers: int = 2,
        concurrency: int = 2,
    ):
        self.home = home
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.queue = f"h2j-{uuid.uuid4().hex[:10]}"
        self.metadata_url = metadata_url
        self.connections = connections
        self.session = requests.Session()
        self.components = [
            Component(
                "api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.port)]
            ),
            Component("scheduler", ["scheduler"]),
            Component("dag-processor", ["dag-processor"]),
        ]
        for number in range(1, workers + 1):
            name = f"worker{number}"
            args = ["celery", "worker", "--concurrency", str(concurrency), "--queues"]
            args += [self.queue, "--celery-hostname", f"{name}@%h", "--without-mingle"]
            args += ["--pid", str(home / f"{name}.pid")]
            port_env = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            self.components.append(Component(name, args, port_env))
        self.secret = secrets.token_urlsafe(32)

    def env(self) -> dict[str, str]:
        """The environment of every component and CLI call; nothing of the caller's Airflow."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        return {
            **inherited,
            "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_url.replace("+psycopg2", ""),
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self.secret,
            "AIRFLOW__API_AUTH__JWT_SECRET": self.secret,
            # Only the runs a test asks for: a scheduled run of today would take the one
            # active-run slot (max_active_runs=1) and sync a window the test did not set up.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **self.connections,
        }

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run an ``airflow`` CLI command against this cluster's metadata database."""
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def migrate(self) -> None:
        done = self.airflow("db", "migrate", timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-3000:]}{done.stderr}")

    def start(self, names: tuple[str, ...] | None = None) -> None:
        """Start the components named (all that are not running yet, by default)."""
        (self.home / "processes").mkdir(parents=True, exist_ok=True)
        base = self.env()
        for component in self.components:
            if component.process is not None or (names and component.name not in names):
                continue
            with component.log_path(self.home).open("wb") as out:
                component.process = subprocess.Popen(
                    [sys.executable, "-m", "airflow", *component.args],
                    cwd=ROOT,
                    env={**base, **component.env},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            log.info("Started %s as pid %s", component.name, component.process.pid)

    def workers(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.components if c.name.startswith("worker"))

    def stop(self, grace: float = 15) -> None:
        """TERM each process by its pid, KILL what is left of its group after ``grace``."""
        self.session.close()
        running = [c.process for c in self.components if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for component in self.components:
            if component.process is None:
                continue
            if component.process.poll() is None:
                log.warning("%s ignored SIGTERM for %s s; killing it", component.name, grace)
            # Each group is one we created (start_new_session): pool children of a Celery
            # worker or the api-server's uvicorn worker must not outlive the test.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(component.process.pid, signal.SIGKILL)
            component.process.wait()

    def exited(self) -> list[str]:
        return [
            f"{c.name} exited with {c.process.returncode}"
            for c in self.components
            if c.process is not None and c.process.poll() is not None
        ]

    def diagnostics(self, lines: int = 40) -> str:
        """The tail of every process log and the errors in task logs, for a failing test."""
        parts = []
        for component in self.components:
            path = component.log_path(self.home)
            text = path.read_text(errors="replace") if path.exists() else ""
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"----- {component.name} (last {lines} lines) -----\n{tail}")
        for path in sorted((self.home / "logs").glob("dag_id=*/**/*.log")):
            errors = [
                line
                for line in path.read_text(errors="replace").splitlines()
                if '"level":"error"' in line
            ]
            if errors:
                name = path.relative_to(self.home / "logs")
                parts.append(f"----- errors in {name} -----\n" + "\n".join(errors[-5:]))
        return "\n".join(parts)

    @contextlib.contextmanager
    def explained(self) -> Iterator[None]:
        """Print :meth:`diagnostics` when the body raises (a failed assertion included)."""
        try:
            yield
        except BaseException:
            print(self.diagnostics(), flush=True)
            raise

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API (``/api/v2`` + ``path``); raise with the body on an error."""
        response = self.session.request(
            method, f"{self.base_url}/api/v2{path}", timeout=30, **kwargs
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:2000]}")
        return response.json() if response.content else None

    def wait_until(self, what: str, check, timeout: float, every: float = 1.0) -> Any:
        """Poll ``check()`` until it returns a truthy value; fail early if a process died."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(requests.RequestException):
                value = check()
                if value:
                    return value
            dead = self.exited()
            if dead:
                raise RuntimeError(f"waiting for {what}: {', '.join(dead)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
            time.sleep(every)

    def wait_ready(self, dag_id: str = DAG_ID, timeout: float = 120) -> None:
        """The API answers, the DAG is parsed and every Celery worker listens on the queue."""
        self.wait_until(
            "the api-server",
            lambda: self.session.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).ok,
            timeout,
        )
        # The execution API builds its versioned routes on its first request, which takes
        # longer than a worker's request timeout on a busy machine; pay that here, once.
        self.wait_until(
            "the execution API",
            lambda: self.session.get(f"{self.base_url}/execution/health", timeout=60).ok,
            timeout,
        )
        self.wait_until(f"DAG {dag_id} to be parsed", lambda: self._dag_parsed(dag_id), timeout)
        for component in self.components:
            if component.name in self.workers():
                self.wait_until(
                    f"{component.name} to be ready",
                    lambda c=component: b"ready." in c.log_path(self.home).read_bytes(),
                    timeout,
                    every=0.5,
                )

    def _dag_parsed(self, dag_id: str) -> bool:
        errors = self.api("GET", "/importErrors")["import_errors"]
        if errors:
            raise RuntimeError(f"import errors: {errors}")
        response = self.session.get(f"{self.base_url}/api/v2/dags/{dag_id}", timeout=10)
        return response.ok

    def unpause(self, dag_id: str = DAG_ID) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, conf: dict[str, Any], dag_id: str = DAG_ID) -> str:
        """A manual run (no logical date) with ``conf``; returns its run id."""
        body = {"logical_date": None, "conf": conf}
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run(self, run_id: str, dag_id: str = DAG_ID) -> dict[str, Any]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def wait_run(self, run_id: str, timeout: float = 120, dag_id: str = DAG_ID) -> str:
        """Wait for the run to succeed or fail; on a timeout, say where each task stands."""
        try:
            run = self.wait_until(
                f"run {run_id} to finish",
                lambda: (r := self.run(run_id, dag_id))["state"] in DONE and r,
                timeout,
            )
        except TimeoutError as exc:
            states = {ti["task_id"]: ti["state"] for ti in self.task_instances(run_id, dag_id)}
            raise TimeoutError(f"{exc}; task states: {states}") from None
        return run["state"]

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return self.api("GET", path, params={"limit": 1000})["task_instances"]

    def mapped(self, run_id: str, task_id: str, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
        """The map indexes of one mapped task in a run, in map index order."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        found = self.api("GET", f"{path}/listMapped", params={"limit": 1000})
        return sorted(found["task_instances"], key=lambda ti: ti["map_index"])

    def xcom(
        self, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        path = (
            f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
            f"/xcomEntries/{key}"
        )
        return self.api("GET", path, params={"map_index": map_index})["value"]

    def clear(self, run_id: str, task_ids: list, dag_id: str = DAG_ID, **options: Any) -> list:
        """Clear task instances of one run (``task_ids`` as the API takes them)."""
        body = {"dag_run_id": run_id, "task_ids": task_ids, "dry_run": False, **options}
        return self.api("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)["task_instances"]

    def runs(self, dag_id: str = DAG_ID, **params: Any) -> list[dict[str, Any]]:
        found = self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, **params})
        return found["dag_runs"]

    def forget_queue(self) -> None:
        """Remove the Redis keys of this cluster's queue, so Redis holds nothing of it.

        Messages of tasks cut off by the stop wait in kombu's shared ``unacked`` hash,
        which would hand them back to the queue a day later; they go too.
        """
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
            for key in client.scan_iter(match=f"*{self.queue}*"):
                client.delete(key)
            for tag, message in client.hscan_iter("unacked"):
                if self.queue.encode() in message:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)


def require_redis() -> None:
    """Fail at once, saying what to start, rather than wait out workers that cannot connect."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except redis.RedisError as exc:
        raise RuntimeError(
            f"no Redis answers at {REDIS_URL} ({exc}): start one (redis-server --port 6379) "
            "or point H2J_REDIS_URL at one"
        ) from None


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While the body runs, SIGTERM unwinds the stack like an exception would.

    A cancelled CI job sends SIGTERM; unwinding runs the ``finally`` that stops the cluster,
    whose processes would otherwise outlive the job in their own sessions.
    """
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def running_cluster(
    home: Path, server_dsn: str, connections: dict[str, str], workers: int = 2
) -> Iterator[AirflowCluster]:
    """A migrated, started and ready cluster on a fresh metadata database.

    Every process is stopped and the database dropped on the way out, whatever happened;
    when the body raised, the tail of every process log is printed first.
    """
    require_redis()
    dbname = create_database(server_dsn, "h2j_airflow")
    cluster = AirflowCluster(home, sqlalchemy_url(server_dsn, dbname), connections, workers)
    with sigterm_unwinds():
        try:
            # Workers touch the metadata database only once they run tasks, so they start
            # while it is migrated; the other components need its tables.
            cluster.start(cluster.workers())
            cluster.migrate()
            cluster.start()
            cluster.wait_ready()
            yield cluster
        except BaseException:
            print(cluster.diagnostics(), flush=True)
            raise
        finally:
            cluster.stop()
            cluster.forget_queue()
            drop_database(server_dsn, dbname)
