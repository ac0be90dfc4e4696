"""Creates the Airflow pools that bound h2j's concurrent calls to Harvest and Jira.

The ``harvest_to_jira`` DAG puts its ``extract`` tasks in pool ``harvest_api`` and its
``load`` tasks in ``jira_api``. Airflow's scheduler never queues a task whose pool does not
exist, so a fresh deployment would stall at ``extract``; this plugin creates both pools
when they are missing. Airflow calls ``on_load`` once in each process that loads plugins:
the scheduler, DAG processor and triggerer when their job is built, the API server when it
builds its app, ``airflow dags test``. Task processes load plugins too, but Airflow 3 denies
them the metadata database, so there it does nothing.

Sizes come from ``[h2j] harvest_pool_slots`` (default 4) and ``[h2j] jira_pool_slots``
(default 8), e.g. ``AIRFLOW__H2J__HARVEST_POOL_SLOTS=6``, and apply only when a pool is
created: a pool that exists keeps the size someone gave it in the UI or with ``airflow
pools set``. Importing this module does nothing; parsing DAG files never calls it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow.plugins_manager import AirflowPlugin

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

HARVEST_POOL = "harvest_api"
JIRA_POOL = "jira_api"

# What Airflow's task supervisor sets the metadata database URL to in a task process.
_BLOCKED_DB_URL = "airflow-db-not-allowed:"


@dataclass(frozen=True)
class PoolSpec:
    """A pool h2j needs: its name, the ``[h2j]`` option sizing it, its default size."""

    name: str
    option: str
    default_slots: int
    description: str


POOLS = (
    PoolSpec(
        HARVEST_POOL,
        "harvest_pool_slots",
        4,
        "h2j extract tasks calling the Harvest API at once. Harvest allows 100 requests per "
        "15 s per token; h2j's shared limiter keeps them under it.",
    ),
    PoolSpec(
        JIRA_POOL,
        "jira_pool_slots",
        8,
        "h2j load tasks writing Jira worklogs at once.",
    ),
)


def pool_slots(spec: PoolSpec) -> int:
    """The configured size of ``spec``'s pool; its default when unset or not a positive int."""
    from airflow.configuration import conf

    try:
        slots = conf.getint("h2j", spec.option, fallback=spec.default_slots)
    except Exception as exc:
        # AirflowConfigException, whose import path differs between Airflow versions.
        log.warning(
            "[h2j] %s is not an integer (%s); using %s", spec.option, exc, spec.default_slots
        )
        return spec.default_slots
    if slots < 1:
        log.warning(
            "[h2j] %s must be at least 1, not %s; using %s", spec.option, slots, spec.default_slots
        )
        return spec.default_slots
    return slots


def metadata_db_available() -> bool:
    """Whether this process may use Airflow's metadata database.

    A task process is recognised by the URL and session class Airflow's supervisor puts in
    place of the real ones before running task code (``block_orm_access``).
    """
    from airflow import settings

    url = str(getattr(settings, "SQL_ALCHEMY_CONN", None) or "")
    session_factory = getattr(settings, "Session", None)
    if not url or url.startswith(_BLOCKED_DB_URL) or session_factory is None:
        return False
    return getattr(session_factory, "__name__", "") != "BlockedDBSession"


@contextmanager
def pool_session() -> Iterator[Session]:
    """A session to add pools in that leaves the caller's own session alone.

    Airflow may load plugins halfway through its own work on the metadata database: the
    first ``airflow dags test`` of a DAG loads them while it writes the new DAG in the
    thread's scoped session. Closing that session would detach the objects Airflow is still
    using, and on SQLite a second connection would wait for that session's write lock. So
    while the scoped session is in a transaction, the pools join it in a savepoint and are
    committed with Airflow's work; otherwise they get a session of their own.
    """
    from airflow import settings
    from airflow.utils.session import create_session

    registry = getattr(settings.Session, "registry", None)
    if registry is not None and registry.has() and settings.Session().in_transaction():
        session = settings.Session()
        with session.begin_nested():
            yield session
        return
    with create_session(scoped=False) as session:
        yield session


def ensure_pool(spec: PoolSpec) -> bool:
    """Create ``spec``'s pool unless it exists; return whether this call created it."""
    from airflow.models.pool import Pool
    from sqlalchemy.exc import IntegrityError

    slots = pool_slots(spec)
    try:
        with pool_session() as session:
            if Pool.get_pool(spec.name, session=session) is not None:
                return False
            session.add(
                Pool(
                    pool=spec.name,
                    slots=slots,
                    description=spec.description,
                    include_deferred=False,
                )
            )
    except IntegrityError:
        # Another process (a second API server worker, the scheduler) created it first.
        return False
    log.info("Created Airflow pool %s with %s slots", spec.name, slots)
    return True


def ensure_pools() -> list[str]:
    """Create the missing h2j pools; return the names created. Never raises."""
    if not metadata_db_available():
        log.debug("No metadata database in this process; h2j pools left to other processes")
        return []
    created: list[str] = []
    for spec in POOLS:
        try:
            if ensure_pool(spec):
                created.append(spec.name)
        except Exception as exc:
            # A plugin that raises is reported as broken; a missing pool is named instead,
            # with the command that creates it by hand.
            log.warning(
                "Could not create Airflow pool %s (%s: %s); create it with "
                '`airflow pools set %s %s "%s"`',
                spec.name,
                type(exc).__name__,
                exc,
                spec.name,
                spec.default_slots,
                spec.description,
            )
    return created


class H2jPoolsPlugin(AirflowPlugin):
    """Registers nothing; on load, creates the pools the ``harvest_to_jira`` DAG uses."""

    name = "h2j_pools"

    @classmethod
    def on_load(cls, *args, **kwargs) -> None:
        ensure_pools()
