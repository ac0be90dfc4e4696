"""
# Harvest to Jira worklogs

Keeps Jira worklogs true to Harvest time entries. Every entry whose notes name a Jira issue
(or that Harvest's Jira integration linked) becomes one worklog on that issue; when the
entry is edited, re-pointed to another issue or deleted in Harvest, the worklog follows,
and Jira's remaining estimate moves with every change (`adjustEstimate=auto`).

**Steps.** `prepare` creates or upgrades the ledger schema and settles the window;
`list_users` and `list_projects` read Harvest's active users and Jira's project keys;
`check_drift` reads Jira's worklog change feeds for worklogs edited or deleted by hand;
`extract` (one task per person) stages that person's entries in PostgreSQL; `diff` compares
the staging table with the ledger of what h2j wrote to Jira and plans, per entry, create,
update, move, delete or unchanged; `load` (one task per person) applies the plan and
records each outcome in the ledger; `report` sums it up and fails the run if anyone failed.

**Connections.** `harvest_default` (http: API host, password = personal access token,
extra `account_id` and `user_agent`), `jira_default` (http: site URL, login = e-mail and
password = API token, or extra `auth: bearer` with a personal access token; extra
`api_version` "3" or "2", optional `site`), `h2j_postgres` (postgres: the ledger database,
schema `h2j`, created on first use).

**Params.** `from_date` / `to_date` (inclusive; empty = from the first day of last month to
the run's date), `users` (Harvest user ids or e-mails; empty = every active user), `dry_run`
(plan and report, write nothing to Jira), `adjust_estimate` (auto, leave or recompute;
empty = the `h2j_adjust_estimate` Variable, default auto), `author_mode` (service or
per_user; empty = the `h2j_author_mode` Variable), `confirm_deletions` (let a run delete
more than half of a person's synced worklogs; otherwise such a run deletes nothing).

**Reruns.** Every run compares Harvest with the ledger, so running a window again changes
nothing that is already right. Clearing one person's failed `load` task re-plans and
re-applies that person alone. A backfill syncs the window of each run's own date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pendulum
from airflow.sdk import Param, conf, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from h2j import flow, notify
from h2j.errors import BadSetting
from h2j.people import for_each, groups_of

# Each map index is named after its person (or the first of its group of people).
PEOPLE = (
    "{{ task.op_kwargs['people'][0]['name'] }}"
    "{% if task.op_kwargs['people'] | length > 1 %}"
    " and {{ task.op_kwargs['people'] | length - 1 }} more{% endif %}"
)


@contextmanager
def no_retry_for_bad_settings() -> Iterator[None]:
    """A wrong param, Variable or connection fails its task at once: no retry can fix it."""
    try:
        yield
    except BadSetting as exc:
        raise AirflowFailException(str(exc)) from exc


def upstream_result(task_id: str) -> Any:
    """The XCom of an upstream task that a task running after failures still needs."""
    found = get_current_context()["ti"].xcom_pull(task_ids=task_id)
    if found is None:
        raise AirflowFailException(f"{task_id} did not finish; see its log.")
    return found


@task
def prepare() -> dict:
    """Check the settings, ensure the ledger schema and settle the run's date window."""
    context = get_current_context()
    end = context.get("data_interval_end") or context["dag_run"].run_after
    params = context["params"]
    with no_retry_for_bad_settings():
        return flow.prepare(
            params["from_date"], params["to_date"], dt.date(*end.timetuple()[:3]), params
        )


@task
def list_users() -> list[list[dict]]:
    """Active Harvest users, narrowed by the users param, one group per mapped task."""
    with no_retry_for_bad_settings():
        users = flow.select_users(get_current_context()["params"]["users"])
    return groups_of(users, conf.getint("core", "max_map_length", fallback=1024))


@task
def list_projects() -> list[str]:
    """Jira project keys: a key in the notes must name one of them."""
    with no_retry_for_bad_settings():
        return flow.known_projects()


# A mapped task does not take its doc from the docstring, so it is given explicitly.
@task(
    pool="harvest_api",
    map_index_template=PEOPLE,
    doc_md="Stage one person's Harvest entries for the window.",
)
def extract(people: list[dict], window: dict, projects: list[str]) -> list[dict]:
    context = get_current_context()
    summaries, errors = for_each(
        people,
        lambda user: flow.extract(user, window, projects, context["run_id"], context["params"]),
        "extract",
    )
    context["ti"].xcom_push(key="summary", value=summaries)
    if errors:
        raise RuntimeError("Extract failed for " + "; ".join(errors))
    return summaries


@task
def check_drift() -> dict:
    """Find worklogs changed or deleted by hand in Jira since the last run."""
    with no_retry_for_bad_settings():
        return flow.drift(dry_run=get_current_context()["params"]["dry_run"])


# diff and report run after failed extracts and loads too, so they read their inputs
# themselves and fail at once, naming the task, when prepare or list_users did not finish.
@task(trigger_rule="all_done")
def diff() -> dict:
    """Plan every extracted person's changes in one SQL statement."""
    groups, window = upstream_result("list_users"), upstream_result("prepare")
    users = [user for group in groups for user in group]
    return flow.diff(users, window, get_current_context()["run_id"])


@task(
    pool="jira_api",
    map_index_template=PEOPLE,
    trigger_rule="all_done",
    doc_md="Apply one person's plan to Jira and record each outcome in the ledger.",
)
def load(people: list[dict], window: dict, projects: list[str]) -> list[dict]:
    context = get_current_context()
    summaries, errors = for_each(
        people,
        lambda user: flow.load(
            user, window, projects, context["run_id"], context["params"]
        ).as_dict(),
        "load",
    )
    context["ti"].xcom_push(key="summary", value=summaries)
    if errors:
        raise RuntimeError("Load failed for " + "; ".join(errors))
    # Failures already reported by an earlier run for the same reason (a long-closed issue)
    # stay in the report but do not turn every run red again.
    failed = [f"{s['user']} ({s['new_failures']} entries)" for s in summaries if s["new_failures"]]
    if failed:
        raise AirflowFailException(
            f"Entries failed for {', '.join(failed)}; see the log. Fix the cause, then "
            "clear this task to retry these people alone."
        )
    return summaries


@task(trigger_rule="all_done")
def report() -> dict:
    """Sum the run up per person; fail the run when anyone failed."""
    context = get_current_context()
    groups = upstream_result("list_users")
    indexes = list(range(len(groups)))
    result = flow.report(
        [user for group in groups for user in group],
        context["ti"].xcom_pull(task_ids="extract", key="summary", map_indexes=indexes),
        context["ti"].xcom_pull(task_ids="load", key="summary", map_indexes=indexes),
        dry_run=context["params"]["dry_run"],
    )
    if result["failed_users"]:
        raise AirflowFailException(result["headline"])
    return result


@dag(
    dag_id="harvest_to_jira",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=2),
        "execution_timeout": dt.timedelta(hours=1),
        "on_failure_callback": notify.task_failed,
    },
    tags=["h2j", "harvest", "jira"],
    doc_md=__doc__,
    params={
        "from_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="From date",
            description="First day to sync (inclusive). Empty: the first day of last month.",
        ),
        "to_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="To date",
            description="Last day to sync (inclusive). Empty: the run's date.",
        ),
        "users": Param(
            None,
            type=["null", "array"],
            items={"type": ["string", "integer"]},
            title="Users",
            description="Harvest user ids or e-mails, one per line. Empty: every active user.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Plan and report, but write nothing to Jira or the ledger.",
        ),
        "adjust_estimate": Param(
            None,
            type=["null", "string"],
            enum=[None, "auto", "leave", "recompute"],
            title="Adjust remaining estimate",
            description="auto: Jira's rule; leave: never touch estimates; recompute: "
            "original estimate minus time spent after every change. Empty: the "
            "h2j_adjust_estimate Variable (default auto).",
        ),
        "author_mode": Param(
            None,
            type=["null", "string"],
            enum=[None, "service", "per_user"],
            title="Worklog author",
            description="service: one account writes every worklog and the comment names "
            "the person; per_user: each person's connection jira_user_<harvest id> writes "
            "theirs. Empty: the h2j_author_mode Variable (default service).",
        ),
        "confirm_deletions": Param(
            False,
            type="boolean",
            title="Confirm mass deletions",
            description="h2j deletes nothing for a person when a run would delete more than "
            "half of their synced worklogs (and at least 10). Tick to confirm such deletions.",
        ),
    },
)
def harvest_to_jira():
    window = prepare()
    users = list_users()
    projects = list_projects()
    drifted = check_drift()
    window >> [users, projects, drifted]
    extracted = extract.partial(window=window, projects=projects).expand(people=users)
    planned = diff()
    [window, users, extracted, drifted] >> planned
    loaded = load.partial(window=window, projects=projects).expand(people=users)
    planned >> loaded
    [users, loaded] >> report()


harvest_to_jira()
