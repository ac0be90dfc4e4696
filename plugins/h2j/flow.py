"""The bodies of the ``harvest_to_jira`` tasks; the DAG file only wires them.

Each function opens what it needs (hooks, a ledger connection) when it runs, never at
import, and returns only small JSON values for XCom: ids, names, counts and errors.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any
from urllib.parse import urlsplit

from h2j import settings
from h2j.authors import Author, author_for
from h2j.drift import check_drift
from h2j.errors import BadSetting
from h2j.extract import extract_user
from h2j.harvest_hook import HarvestHook
from h2j.issues import IssueResolver
from h2j.jira_hook import JiraHook
from h2j.load import Summary, Target, load_user
from h2j.plan import write_plan
from h2j.schema import ensure_schema
from h2j.shared_limiter import harvest_limiter, token_fingerprint
from h2j.sql import connect, sql
from h2j.staging import Person
from h2j.timezones import iana_zone
from h2j.window import Window, resolve_window

log = logging.getLogger(__name__)

HARVEST_CONN_ID = "harvest_default"
JIRA_CONN_ID = "jira_default"
LEDGER_CONN_ID = "h2j_postgres"


def prepare(
    from_date: str | None,
    to_date: str | None,
    interval_end: dt.date,
    params: dict[str, Any] | None = None,
) -> dict:
    """Check the run's settings, make sure the ledger schema is current, settle the window."""
    window = resolve_window(from_date, to_date, interval_end)
    settings.check_run_settings(params or {})
    with closing(connect(LEDGER_CONN_ID)) as conn:
        ensure_schema(conn)
        keep = settings.staging_keep_days()
        with conn.transaction():
            conn.execute(sql("housekeeping_staging"), {"keep_days": keep})
            conn.execute(sql("housekeeping_plan"), {"keep_days": keep})
    log.info("Syncing Harvest entries dated %s", window)
    return window.as_dict()


@contextmanager
def harvest_hook() -> Iterator[HarvestHook]:
    """Harvest's hook, rate limited together with every other task through the ledger DB.

    Harvest allows 100 requests per 15 s per token; mapped tasks run in separate
    processes (or machines), so only a limiter they share can keep them all under it.
    """
    token = HarvestHook.get_connection(HARVEST_CONN_ID).password or ""
    with closing(harvest_limiter(LEDGER_CONN_ID, token_fingerprint(token))) as limiter:
        yield HarvestHook(harvest_conn_id=HARVEST_CONN_ID, rate_limiter=limiter)


def select_users(requested: list[Any] | None) -> list[dict[str, Any]]:
    """Active Harvest users, narrowed to the ids or e-mails a person asked for."""
    with harvest_hook() as harvest:
        users = [user_summary(user) for user in harvest.iter_users(is_active=True)]
    if not requested:
        log.info("Syncing all %s active Harvest users", len(users))
        return users

    wanted = {str(value).strip().lower() for value in requested if str(value).strip()}
    chosen = [u for u in users if str(u["id"]) in wanted or (u["email"] or "").lower() in wanted]
    matched = {str(u["id"]) for u in chosen} | {(u["email"] or "").lower() for u in chosen}
    missing = sorted(wanted - matched)
    if missing:
        log.warning("No active Harvest user matches %s", ", ".join(missing))
    if not chosen:
        raise BadSetting(f"none of the requested users is an active Harvest user: {requested}")
    log.info("Syncing %s of %s active Harvest users", len(chosen), len(users))
    return chosen


def user_summary(user: dict[str, Any]) -> dict[str, Any]:
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
    return {
        "id": int(user["id"]),
        "name": name or f"user {user['id']}",
        "email": user.get("email"),
        "timezone": user.get("timezone"),
    }


def known_projects() -> list[str]:
    """Keys of the Jira projects the service account can see: keys in notes must be one."""
    keys = sorted(
        {project["key"].upper() for project in JiraHook(jira_conn_id=JIRA_CONN_ID).projects()}
    )
    log.info("Jira knows %s projects", len(keys))
    return keys


def jira_site(jira: JiraHook) -> tuple[str, str | None]:
    """The site the ledger keys on, and the host external references must name (if set)."""
    conn = jira.get_connection(jira.jira_conn_id)
    extra = conn.extra_dejson or {}
    configured = extra.get("site")
    host = conn.host or ""
    base = urlsplit(host if "://" in host else f"//{host}")
    site = configured or f"{base.hostname or host}{base.path.rstrip('/')}"
    return site, configured


def person_for(user: dict[str, Any], author: Author) -> Person:
    zone = iana_zone(user.get("timezone"), settings.setting("h2j_default_timezone"))
    return Person(
        user_id=int(user["id"]), name=user["name"], zone=zone, named_in_comment=not author.is_person
    )


def _resolver(run_id: str, site: str, site_host: str | None, projects, jira: JiraHook):
    lookups = connect(LEDGER_CONN_ID)
    return IssueResolver(
        conn=lookups,
        run_id=run_id,
        site=site,
        known_projects=projects,
        lookup=jira.get_issue,
        site_host=site_host,
    )


def extract(
    user: dict[str, Any], window: dict, projects: list[str], run_id: str, params: dict[str, Any]
) -> dict:
    """Stage one person's entries for the window."""
    author = author_for(int(user["id"]), user["name"], params.get("author_mode"))
    jira = JiraHook(jira_conn_id=JIRA_CONN_ID)
    site, site_host = jira_site(jira)
    resolver = _resolver(run_id, site, site_host, projects, jira)
    with closing(resolver.conn), closing(connect(LEDGER_CONN_ID)) as conn, harvest_hook() as hv:
        summary = extract_user(
            conn=conn,
            harvest=hv,
            resolver=resolver,
            run_id=run_id,
            person=person_for(user, author),
            window=Window.from_dict(window),
        )
    return {"user_id": user["id"], "user": user["name"], **summary}


def diff(users: list[dict[str, Any]], window: dict, run_id: str) -> dict[str, Any]:
    """Plan the run for every user whose extract finished, in one statement."""
    jira = JiraHook(jira_conn_id=JIRA_CONN_ID)
    site, _ = jira_site(jira)
    user_ids = [int(user["id"]) for user in users]
    with closing(connect(LEDGER_CONN_ID)) as conn:
        extracted = [
            row[0]
            for row in conn.execute(
                sql("extracted_users"), {"run_id": run_id, "user_ids": user_ids}
            )
        ]
        totals = write_plan(conn, run_id=run_id, site=site, user_ids=extracted, window=window)
    log.info(
        "Plan for %s of %s users: %s; every other entry is unchanged",
        len(extracted),
        len(user_ids),
        ", ".join(f"{n} {action}" for action, n in sorted(totals.items())) or "nothing to do",
    )
    missing = sorted(set(user_ids) - set(extracted))
    return {"users_planned": len(extracted), "users_not_extracted": missing, **totals}


def drift(*, dry_run: bool) -> dict[str, Any]:
    """Find worklogs changed or deleted by hand in Jira, so the plan restores them."""
    jira = JiraHook(jira_conn_id=JIRA_CONN_ID)
    site, _ = jira_site(jira)
    with closing(connect(LEDGER_CONN_ID)) as conn:
        return check_drift(conn, jira, site, dry_run=dry_run)


def load(
    user: dict[str, Any],
    window: dict,
    projects: list[str],
    run_id: str,
    params: dict[str, Any],
) -> Summary:
    """Apply one person's plan to Jira (or only count it, in a dry run).

    ``params`` are the run's params: ``dry_run``, ``adjust_estimate`` and
    ``confirm_deletions``.
    """
    jira = JiraHook(jira_conn_id=JIRA_CONN_ID)
    site, site_host = jira_site(jira)
    resolver = _resolver(run_id, site, site_host, projects, jira)
    author = author_for(int(user["id"]), user["name"], params.get("author_mode"))
    hook_for = _hooks(jira)
    with (
        closing(resolver.conn),
        closing(connect(LEDGER_CONN_ID)) as conn,
        harvest_hook() as harvest,
    ):
        extracted = conn.execute(
            sql("extracted_users"), {"run_id": run_id, "user_ids": [int(user["id"])]}
        ).fetchall()
        if not extracted:
            raise RuntimeError(
                f"{user['name']} (user {user['id']}) has no finished extract in this run; "
                "clear their extract task first"
            )
        target = Target(
            conn=conn,
            jira=jira,
            harvest=harvest,
            hooks=hook_for,
            service_conn=JIRA_CONN_ID,
            author_conn=author.conn_id,
            author_problem=author.problem,
            resolver=resolver,
            run_id=run_id,
            site=site,
            harvest_account=str(harvest.account_id),
            person=person_for(user, author),
            window=Window.from_dict(window),
            adjust_estimate=settings.adjust_estimate(params.get("adjust_estimate")),
            dry_run=bool(params.get("dry_run")),
            confirm_deletions=bool(params.get("confirm_deletions")),
            mass_delete_share=float(settings.setting("h2j_mass_delete_share")),
            mass_delete_min=int(settings.setting("h2j_mass_delete_min")),
            concurrency=settings.load_concurrency(),
        )
        target.fork = functools.partial(_worker_target, target)
        return load_user(target)


def _hooks(jira: JiraHook | None = None) -> Callable[[str], JiraHook]:
    """Jira hooks by connection id, made on first use and kept, starting from ``jira``."""
    hooks = {JIRA_CONN_ID: jira or JiraHook(jira_conn_id=JIRA_CONN_ID)}

    def hook_for(conn_id: str) -> JiraHook:
        if conn_id not in hooks:
            hooks[conn_id] = JiraHook(jira_conn_id=conn_id)
        return hooks[conn_id]

    return hook_for


@contextmanager
def _worker_target(target: Target) -> Iterator[Target]:
    """A copy of ``target`` for one writer thread: its own ledger connection and Jira hooks.

    A psycopg connection runs one statement at a time and holds the session's advisory
    locks, and a requests session is not meant to be shared across threads.
    """
    hook_for = _hooks()
    with closing(connect(LEDGER_CONN_ID)) as conn:
        yield dataclasses.replace(
            target, conn=conn, jira=hook_for(JIRA_CONN_ID), hooks=hook_for, fork=None
        )


def report(
    users: list[dict[str, Any]], extracts: list | None, loads: list | None, *, dry_run: bool
) -> dict[str, Any]:
    """The run's report from the mapped tasks' XComs, matched to people by user id.

    A person whose task failed before pushing its XCom simply has no entry, which the
    report shows as a failed extract or load. ``headline`` is the one-line summary.
    """
    # Imported here, as pandas alone would add about 50 MB to every extract and load task.
    from h2j.report import build_report, headline, report_table

    by_user = {int(item["user_id"]): item for item in _flatten(extracts)}
    loaded = {int(item["user_id"]): item for item in _flatten(loads)}
    result = build_report(users, by_user, loaded, dry_run=dry_run)
    result["headline"] = headline(result)
    # One message, so that the table and the headline read as one block in the task log.
    log.info("Run report\n%s\n%s", report_table(result), result["headline"])
    return result


def _flatten(xcoms: list | None) -> list[dict[str, Any]]:
    """The per-person summaries of every map index; a failed index may have pushed none."""
    return [
        item
        for group in xcoms or []
        if isinstance(group, list)
        for item in group
        if isinstance(item, dict)
    ]
