"""No credential leaves the connection: not into logs, XCom, the ledger or an exception.

The DAG runs with canary credentials, random strings no other test or fixture knows, so
finding one anywhere proves that h2j (or Airflow, or requests) wrote it there. The runs
include failures on purpose, since error paths are where a token is most often printed:
a closed Jira issue (400), a Jira 500 on a worklog write, a Jira 503 that is retried, and
a second run with a Harvest token Harvest does not know (401).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import traceback
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sandbox.__main__ import connection_env
from tests.world import World

WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}
CANARY_EMAIL = "canary-bot@example.com"


@dataclass(frozen=True)
class Canaries:
    """The secrets of one test: a Harvest token, a Jira API token, a token Harvest refuses."""

    harvest: str
    jira: str
    wrong_harvest: str

    def spellings(self) -> dict[str, str]:
        """Each token as given and in the encodings an HTTP client puts on the wire."""
        found = {}
        for name, token in (
            ("harvest token", self.harvest),
            ("jira token", self.jira),
            ("wrong harvest token", self.wrong_harvest),
        ):
            found[name] = token
            found[f"{name} in base64"] = _b64(token)
        found["jira Basic credentials"] = _b64(f"{CANARY_EMAIL}:{self.jira}")
        return found


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def leaks(sources: dict[str, str], canaries: Canaries) -> list[str]:
    """``"<secret> in <source>"`` for every secret spelling found in any source text."""
    return [
        f"{secret} in {source}"
        for source, text in sources.items()
        for secret, value in canaries.spellings().items()
        if value in text
    ]


def _conn_env(sandbox, harvest_token: str, jira_token: str) -> dict[str, str]:
    """The sandbox connections with these credentials in place of the shared ones."""
    env = connection_env(sandbox.harvest_url, sandbox.jira_url)
    harvest = json.loads(env["AIRFLOW_CONN_HARVEST_DEFAULT"]) | {"password": harvest_token}
    jira = json.loads(env["AIRFLOW_CONN_JIRA_DEFAULT"])
    jira |= {"login": CANARY_EMAIL, "password": jira_token}
    return {
        "AIRFLOW_CONN_HARVEST_DEFAULT": json.dumps(harvest),
        "AIRFLOW_CONN_JIRA_DEFAULT": json.dumps(jira),
    }


@pytest.fixture
def canaries(sandbox, monkeypatch) -> Canaries:
    """Fresh tokens that both sandboxes accept, with h2j's connections pointed at them."""
    made = Canaries(*(f"canary-{secrets.token_hex(16)}" for _ in range(3)))
    harvest = sandbox.state("harvest")
    harvest["tokens"][made.harvest] = next(iter(harvest["tokens"].values()))
    sandbox.load(harvest=harvest)
    sandbox.admin(
        "jira",
        "POST",
        "/accounts",
        json={"emailAddress": CANARY_EMAIL, "displayName": "canary", "api_token": made.jira},
    )
    for name, value in _conn_env(sandbox, made.harvest, made.jira).items():
        monkeypatch.setenv(name, value)
    return made


def log_files() -> dict[str, str]:
    """Every file under ``$AIRFLOW_HOME/logs``.

    ``dag.test()`` runs each task in this process and sends its log through structlog to
    the process's logging and standard streams, so this is usually empty; a file handler
    configured there later is still read.
    """
    root = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    return {
        f"log file {path.relative_to(root)}": path.read_bytes().decode("utf-8", "replace")
        for path in root.rglob("*")
        if path.is_file()
    }


def captured_logging(records: list[logging.LogRecord]) -> str:
    """Each record's message, its attributes and its formatted exception with its chain."""
    formatter = logging.Formatter()
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts.append(repr({k: v for k, v in vars(record).items() if k != "exc_info"}))
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(formatter.formatException(record.exc_info))
            parts.extend(exception_texts(record.exc_info[1]))
    return "\n".join(parts)


def exception_texts(exc: BaseException) -> list[str]:
    """str, repr, attributes and traceback of ``exc`` and of each exception it chains to."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(getattr(current, "__dict__", {}))]
        current = current.__cause__ or current.__context__
    return texts


def xcom_dump() -> str:
    """Every XCom value the DAG's runs stored, deserialized and as stored."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == "harvest_to_jira").all()
        return "\n".join(
            f"{row.task_id} {row.key} {row.value!r} "
            f"{json.dumps(XComModel.deserialize_value(row), default=str)}"
            for row in rows
        )


def ledger_dump(dsn: str) -> str:
    """Every row of every table in schema h2j, as PostgreSQL renders a row as text."""
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'h2j'"
        ).fetchall()
        lines = []
        for (table,) in tables:
            query = sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier("h2j", table))
            lines += [f"{table}: {row}" for (row,) in conn.execute(query)]
    return "\n".join(lines)


def metadata_database() -> str:
    """The raw bytes of Airflow's sqlite metadata database, free pages and journal too."""
    from airflow.configuration import conf

    url = conf.get("database", "sql_alchemy_conn")
    assert url.startswith("sqlite:///"), f"the scan reads sqlite files, not {url}"
    database = Path(url.removeprefix("sqlite:///").split("?")[0])
    paths = [database, *(database.with_name(database.name + s) for s in ("-wal", "-journal"))]
    return "".join(path.read_bytes().decode("latin-1") for path in paths if path.is_file())


def failing_world(world: World, sandbox) -> None:
    """One good entry, one on a closed issue, one whose worklog write meets a Jira 500."""
    world.add_issue("SEC-1", estimate_hours=8)
    world.add_issue("SEC-2", estimate_hours=8, closed=True)
    broken = world.add_issue("SEC-3", estimate_hours=8)
    ada = world.add_person("Ada", "Lovelace")
    world.log(ada, "2026-11-03", 2, "SEC-1 build")
    world.log(ada, "2026-11-04", 1, "SEC-2 late fix")
    world.log(ada, "2026-11-05", 1, "SEC-3 deploy")
    sandbox.faults(
        "jira",
        [
            {"kind": "error", "status": 500, "method": "POST", "path": f"/issue/{broken}/"},
            {"kind": "error", "status": 503, "method": "GET", "path": "/project/", "times": 1},
        ],
    )


def test_canary_tokens_reach_no_log_xcom_ledger_or_error(
    sandbox, canaries, run_dag, ledger_dsn, caplog, capfd, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    failing_world(World(sandbox), sandbox)

    first = run_dag(WINDOW)
    for name, value in _conn_env(sandbox, canaries.wrong_harvest, canaries.jira).items():
        monkeypatch.setenv(name, value)
    second = run_dag(WINDOW)

    failures = first.summaries["Ada Lovelace"]["failures"]
    assert first.state == "failed"
    assert sorted(f["status"] for f in failures) == [400, 500], failures
    assert second.state == "failed"
    assert second.task_states["list_users"] == ["failed"]
    stream = capfd.readouterr()
    sources = {
        **log_files(),
        "captured logging": captured_logging(caplog.records),
        "stdout and stderr": stream.out + stream.err,
        "XCom": xcom_dump(),
        "ledger": ledger_dump(ledger_dsn),
        "Airflow metadata database": metadata_database(),
    }
    found = leaks(sources, canaries)
    assert not found, "\n".join(found)
    assert_error_paths_were_scanned(sources)


def assert_error_paths_were_scanned(sources: dict[str, str]) -> None:
    """Each failure left its mark where it was looked for, so no scan read nothing."""
    expected = {
        "stdout and stderr": ("Traceback", "HTTP 401: The token is unknown"),
        "captured logging": ("HTTP 503", "non-editable", "HTTP 500"),
        "XCom": ("non-editable", "HTTP 500"),
        "ledger": ("non-editable", "HTTP 500"),
        "Airflow metadata database": ("non-editable", "harvest_to_jira"),
    }
    for source, signs in expected.items():
        for sign in signs:
            assert sign in sources[source], f"{sign!r} is missing from {source}"


def test_hook_errors_carry_no_token(sandbox, canaries, monkeypatch):
    """The errors a caller catches and logs, with their chain, hold no credential."""
    from h2j.errors import ApiError
    from h2j.harvest_hook import HarvestHook
    from h2j.jira_hook import JiraHook

    world = World(sandbox)
    closed = world.add_issue("SEC-9", estimate_hours=1, closed=True)
    caught: list[BaseException] = []
    with pytest.raises(ApiError) as refused:
        JiraHook().add_worklog(
            closed, started="2026-11-03T09:00:00.000+0000", seconds=60, comment="x"
        )
    caught.append(refused.value)
    for name, value in _conn_env(sandbox, canaries.wrong_harvest, canaries.jira).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ApiError) as unknown:
        list(HarvestHook().iter_users())
    caught.append(unknown.value)

    assert [exc.status for exc in caught] == [400, 401]
    texts = {f"error {i}": "\n".join(exception_texts(exc)) for i, exc in enumerate(caught)}
    found = leaks(texts, canaries)
    assert not found, "\n".join(found)


def test_leak_finder_sees_every_spelling():
    """The scan itself: a raw token, a base64 token and Basic credentials are all found."""
    made = Canaries("canary-a1", "canary-b2", "canary-c3")
    basic = _b64(f"{CANARY_EMAIL}:canary-b2")
    sources = {"log": f"Authorization: Basic {basic}", "xcom": "canary-a1"}
    sources["db"] = _b64("canary-c3")

    assert sorted(leaks(sources, made)) == [
        "harvest token in xcom",
        "jira Basic credentials in log",
        "wrong harvest token in base64 in db",
    ]
