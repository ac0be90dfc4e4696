"""``python -m h2j``: commands an operator runs beside the DAG, on the DAG's connections.

    python -m h2j rebuild-ledger --from 2026-11-01 --to 2026-11-30 [--dry-run]
    python -m h2j audit --from 2026-11-01 --to 2026-11-30

Both take ``--issues KEY,KEY`` (read those issues instead of Jira's site-wide change
feed), ``--since DATE`` (read the feed from that day rather than the day before the
window) and ``--author-mode`` (as the DAG's param; it decides whether comments name the
person). The connections ``h2j_postgres``, ``harvest_default`` and ``jira_default`` are
found as Airflow finds them, e.g. in ``AIRFLOW_CONN_*`` variables. Results go to stdout,
one per line, and logs to stderr. ``audit`` exits 1 when anything disagrees; any command
exits 2 when it could not finish.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Callable, Sequence
from contextlib import closing

import psycopg

from h2j.errors import ApiError
from h2j.window import Window, resolve_window

log = logging.getLogger(__name__)

Out = Callable[[str], None]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m h2j", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser(
        "rebuild-ledger", help="write the ledger back from the worklogs h2j left in Jira"
    )
    rebuild.add_argument("--dry-run", action="store_true", help="print the rows, write none")
    check = commands.add_parser(
        "audit", help="compare ledger, Jira and Harvest for a window; change nothing"
    )
    for command in (rebuild, check):
        command.add_argument("--from", dest="from_date", required=True, metavar="YYYY-MM-DD")
        command.add_argument("--to", dest="to_date", required=True, metavar="YYYY-MM-DD")
        command.add_argument(
            "--issues", type=_keys, help="comma-separated issue keys to read instead of the feed"
        )
        command.add_argument(
            "--since", type=dt.date.fromisoformat, help="read Jira's change feed from this day"
        )
        command.add_argument(
            "--author-mode",
            choices=("service", "per_user"),
            help="as the DAG's author_mode param (default: the h2j_author_mode Variable)",
        )
    args = parser.parse_args(argv)
    try:
        args.window = resolve_window(args.from_date, args.to_date, dt.date.today())
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _keys(text: str) -> list[str]:
    keys = [key.strip() for key in text.split(",") if key.strip()]
    if not keys:
        raise argparse.ArgumentTypeError("name at least one issue")
    return keys


def run_rebuild(args: argparse.Namespace, out: Out) -> int:
    from h2j.flow import LEDGER_CONN_ID
    from h2j.rebuild import People, Services, rebuild_ledger
    from h2j.sql import connect

    services = Services.open()
    people = People.load(services.harvest, args.author_mode)
    options = {"issues": args.issues, "since": args.since}
    if args.dry_run:
        result = rebuild_ledger(services, people, None, args.window, **options)
    else:
        with closing(connect(LEDGER_CONN_ID)) as conn:
            result = rebuild_ledger(services, people, conn, args.window, **options)
    print_rebuild(result, services, people, args.window, out, dry_run=args.dry_run)
    return 0


def print_rebuild(result, services, people, window: Window, out: Out, *, dry_run: bool) -> None:
    """Rows (in a dry run), vanished entries and duplicates, one per line; then a summary."""
    name = people.get
    if dry_run:
        for row in result.rows:
            out(
                f"entry {row['entry_id']} ({name(row['user_id']).name}, {row['spent_date']}) "
                f"-> worklog {row['worklog_id']} on {row['issue_key']}: {row['seconds']} s, "
                f"started {row['started']}"
            )
    for row in result.gone:
        out(
            f"gone: entry {row['entry_id']} ({name(row['user_id']).name}) is no longer in "
            f"Harvest; its worklog {row['worklog_id']} on {row['issue_key']} stays in the "
            "ledger, so the next sync of its dates deletes it"
        )
    api = services.jira.api_version
    for extra, kept in result.duplicates:
        # h2j deletes only worklogs its ledger names; whether the extra one goes is for a
        # person to decide, so it is reported with the call that would remove it.
        out(
            f"duplicate: entry {extra.entry_id} ({name(extra.user_id).name}) also has "
            f"worklog {extra.worklog_id} on issue {extra.issue_id}; the ledger keeps the "
            f"older worklog {kept.worklog_id}. To remove the extra one: DELETE "
            f"/rest/api/{api}/issue/{extra.issue_id}/worklog/{extra.worklog_id}"
            "?adjustEstimate=auto"
        )
    out(
        f"{'Would write' if dry_run else 'Wrote'} {len(result.rows)} ledger rows for {window} "
        f"on {services.site}: {len(result.gone)} entries gone from Harvest, "
        f"{len(result.duplicates)} duplicate worklogs left in Jira"
    )


def run_audit(args: argparse.Namespace, out: Out) -> int:
    from h2j.audit import audit
    from h2j.flow import LEDGER_CONN_ID, known_projects
    from h2j.rebuild import People, Services
    from h2j.sql import connect

    services = Services.open()
    people = People.load(services.harvest, args.author_mode)
    projects = known_projects()
    with closing(connect(LEDGER_CONN_ID)) as conn:
        result = audit(
            services, people, conn, args.window, projects, issues=args.issues, since=args.since
        )
    for finding in result.findings:
        out(finding.line())
    out(result.summary())
    return 0 if result.clean else 1


COMMANDS = {"rebuild-ledger": run_rebuild, "audit": run_audit}


def main(argv: Sequence[str] | None = None, out: Out = print) -> int:
    """Run one command; the exit code: 0 done (audit: all agree), 1 disagreements, 2 failed."""
    args = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
        )
    try:
        return COMMANDS[args.command](args, out)
    except (ApiError, psycopg.Error, ValueError) as exc:
        log.error("%s failed: %s", args.command, exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
