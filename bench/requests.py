"""``python -m bench.requests``: the API calls a sync spends, next to the fewest it needs.

A generated account (``sandbox.sample``, default 50 people x 200 entries in November 2026)
is synced three times: a first sync into an empty ledger, a rerun with nothing changed,
and a rerun after a share of the entries (default 5 %) was edited through Harvest's API
(hours, notes, the issue named, deletions). The sandboxes count every request by route;
each count is printed beside the minimum a sync of that state needs:

- Harvest: one users listing, ``ceil(entries / 2000)`` pages per person (at least one),
  one lookup per entry that vanished while Jira holds its worklog.
- Jira: the fixed reads of every run (project pages, the ``worklog/updated`` and
  ``worklog/deleted`` feeds page by page as the server cuts them, ``worklog/list`` only
  for worklogs someone else changed), one issue lookup per distinct issue (an issue named
  by its id in one entry and by its key in another is one issue; an old key of a moved
  issue or an unknown key counts as one more), and
  one write per worklog that must appear, change or go (two for a move), plus one per
  write Jira refuses for a new reason.

The minimum of the writes is read from Jira itself (h2j's worklogs before and after the
run), not from h2j's plan, so a write that changed nothing shows up as excess. Run from
the checkout with ``PYTHONPATH=plugins:.``; it starts its own sandboxes and database.
"""

from __future__ import annotations

import argparse
import bisect
import logging
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg
import requests

from bench import common

MONTH = "2026-11"
WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}
API = "/rest/api/3"
HARVEST_PAGE = 2000
FEED_PAGE = 1000
LIST_MAX_IDS = 1000
PROJECT_PAGE = 50
FEED_QUIET_MS = 60_000
TARGET = 1.05
EDIT_KINDS = ("hours", "reword", "repoint", "delete")

HARVEST_ROUTES = {
    "GET /v2/users": "users listing",
    "GET /v2/time_entries": "time entry pages",
    "GET /v2/time_entries/{time_entry_id}": "deletion-candidate lookups",
}
JIRA_ROUTES = {
    f"GET {API}/project/search": "project/search pages (fixed)",
    f"GET {API}/worklog/updated": "worklog/updated feed pages (fixed)",
    f"GET {API}/worklog/deleted": "worklog/deleted feed pages (fixed)",
    f"POST {API}/worklog/list": "worklog/list drift read-back (fixed)",
    f"GET {API}/issue/{{issueIdOrKey}}": "issue lookups",
    f"POST {API}/issue/{{issueIdOrKey}}/worklog": "worklog creates",
    f"PUT {API}/issue/{{issueIdOrKey}}/worklog/{{id}}": "worklog updates",
    f"DELETE {API}/issue/{{issueIdOrKey}}/worklog/{{id}}": "worklog deletes",
}
WRITE_KINDS = {
    "create": "worklog creates",
    "update": "worklog updates",
    "delete": "worklog deletes",
}

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.requests", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--entries", type=int, default=200, help="entries per person")
    parser.add_argument("--changed", type=float, default=0.05, help="share of entries edited")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verbose", action="store_true", help="show h2j's own log")
    return parser.parse_args(argv)


@dataclass
class Row:
    service: str
    kind: str
    actual: int
    minimum: int
    note: str = ""


@dataclass
class Phase:
    label: str
    rows: list[Row]
    seconds: float
    load: str
    failed_tasks: dict[str, str] = field(default_factory=dict)

    def total(self, service: str | None = None) -> tuple[int, int]:
        chosen = [r for r in self.rows if service in (None, r.service)]
        return sum(r.actual for r in chosen), sum(r.minimum for r in chosen)


@dataclass
class Bench:
    """The running sandboxes, the ledger and what the bench needs to read them."""

    urls: dict[str, str]
    dsn: str
    harvest: requests.Session

    def state(self, service: str) -> dict[str, Any]:
        return common.admin(self.urls[service], "GET", "/state").json()

    def checkpoints(self) -> dict[str, int]:
        """Where h2j will read each Jira feed from (empty before its first run)."""
        try:
            with psycopg.connect(self.dsn) as conn:
                rows = conn.execute("SELECT feed, since_ms FROM h2j.feed_checkpoints").fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
        return {feed: int(since) for feed, since in rows}

    def jira_now_ms(self) -> int:
        return int(common.admin(self.urls["jira"], "GET", "/clock").json()["now_ms"])


# --- what the run had to work with -------------------------------------------------------


def own_worklogs(jira: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """h2j's worklogs in a Jira state, by the Harvest entry id in their ``h2j`` property."""
    found = {}
    for worklog in jira["worklogs"]:
        value = (worklog.get("properties") or {}).get("h2j")
        if isinstance(value, dict) and value.get("entry_id") is not None:
            found[int(value["entry_id"])] = worklog
    return found


def window_entries(harvest: dict[str, Any]) -> list[dict[str, Any]]:
    """Entries of active users dated inside the sync window."""
    active = {u["id"] for u in harvest["users"] if u.get("is_active", True)}
    return [
        e
        for e in harvest["time_entries"]
        if e["user"]["id"] in active and WINDOW["from_date"] <= e["spent_date"] <= WINDOW["to_date"]
    ]


def issue_refs(harvest: dict[str, Any], jira: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The distinct issue references h2j must resolve, and the lookups they need at least.

    One lookup per distinct issue, whichever of its id, current key or earlier keys the
    entries use, is the least any resolver can do (h2j keeps Jira's answer under the id and
    the current key, so an earlier key asked after them costs one more); a key Jira does
    not know needs its own.
    """
    from h2j.convert import BadEntry, entry_seconds
    from h2j.issue_refs import first_known_key, reference_from_external
    from sandbox.sample import JIRA_SITE

    projects = {p["key"].upper() for p in jira["projects"]}
    refs: set[str] = set()
    for entry in window_entries(harvest):
        if entry.get("is_running"):
            continue
        try:
            entry_seconds(entry["id"], entry.get("hours"))
        except BadEntry:
            continue
        ref = reference_from_external(entry.get("external_reference"), JIRA_SITE)
        named = (ref.issue_id or ref.key) if ref else first_known_key(entry.get("notes"), projects)
        if named:
            refs.add(named.upper())
    current = {
        name.upper(): i["id"]
        for i in jira["issues"]
        for name in (i["id"], i["key"], *i.get("previous_keys", []))
    }
    return refs, {current.get(ref, ref) for ref in refs}


def feed_pages(times: list[int], since: int, horizon: int) -> int:
    """Pages Jira needs to list the changes at ``times`` from ``since`` (inclusive).

    Each page holds at most 1000 changes and the next one starts at the last change time
    of the page before, again inclusive, as Jira's ``nextPage`` does.
    """
    ordered = sorted(t for t in times if t <= horizon)
    pages = 0
    while True:
        pages += 1
        start = bisect.bisect_left(ordered, since)
        if len(ordered) - start <= FEED_PAGE:
            return pages
        following = ordered[start + FEED_PAGE - 1]
        if following == since:
            return pages
        since = following


def worklog_ms(worklog: dict[str, Any]) -> int:
    from sandbox.jira_format import millis_of

    return int(millis_of(worklog["updated"]) or 0)


# --- minimums ----------------------------------------------------------------------------


def harvest_rows(counts: dict[str, int], harvest: dict[str, Any], own: dict) -> list[Row]:
    users = [u for u in harvest["users"] if u.get("is_active", True)]
    per_user = Counter(e["user"]["id"] for e in window_entries(harvest))
    pages = sum(max(1, math.ceil(per_user[u["id"]] / HARVEST_PAGE)) for u in users)
    present = {e["id"] for e in harvest["time_entries"]}
    vanished = [
        entry_id
        for entry_id, worklog in own.items()
        if entry_id not in present and _in_window(worklog)
    ]
    minimums = {
        "users listing": max(1, math.ceil(len(users) / HARVEST_PAGE)),
        "time entry pages": pages,
        "deletion-candidate lookups": len(vanished),
    }
    notes = {
        "users listing": f"{len(users)} active users",
        "time entry pages": f"{sum(per_user.values())} entries, {len(users)} people",
        "deletion-candidate lookups": f"{len(vanished)} entries gone with a worklog",
    }
    return _rows("Harvest", HARVEST_ROUTES, counts, minimums, notes)


def _in_window(worklog: dict[str, Any]) -> bool:
    day = str(worklog["started"])[:10]
    return WINDOW["from_date"] <= day <= WINDOW["to_date"]


@dataclass
class RunView:
    """Everything the Jira minimum depends on: states before and after, feeds, outcome."""

    harvest: dict[str, Any]
    jira_before: dict[str, Any]
    jira_after: dict[str, Any]
    checkpoints: dict[str, int]
    horizon: int
    loads: dict[str, dict[str, Any]]


def jira_rows(counts: dict[str, int], view: RunView) -> list[Row]:
    fixed, fixed_notes = fixed_read_minimums(view)
    refs, lookups = issue_refs(view.harvest, view.jira_before)
    writes, write_notes = write_minimums(view)
    minimums = {**fixed, "issue lookups": len(lookups), **writes}
    notes = {
        **fixed_notes,
        "issue lookups": f"{len(refs)} distinct references, {len(lookups)} distinct issues",
        **write_notes,
    }
    return _rows("Jira", JIRA_ROUTES, counts, minimums, notes)


def fixed_read_minimums(view: RunView) -> tuple[dict[str, int], dict[str, str]]:
    from sandbox.sample import JIRA_EMAIL

    before = view.jira_before
    first_look = int(time.time() * 1000) - 7 * 24 * 3600 * 1000
    since = {feed: view.checkpoints.get(feed, first_look) for feed in ("updated", "deleted")}
    updated = [worklog_ms(w) for w in before["worklogs"]]
    deleted = [int(d["updatedTime"]) for d in before["deleted_worklogs"]]
    bot = {a["accountId"] for a in before["accounts"] if a.get("emailAddress") == JIRA_EMAIL}
    own_ids = {str(w["id"]) for w in own_worklogs(before).values()}
    by_others = [
        w
        for w in before["worklogs"]
        if str(w["id"]) in own_ids
        and since["updated"] <= worklog_ms(w) <= view.horizon
        and w.get("update_author") not in bot
    ]
    changed = sum(1 for t in updated if since["updated"] <= t <= view.horizon)
    minimums = {
        "project/search pages (fixed)": max(1, math.ceil(len(before["projects"]) / PROJECT_PAGE)),
        "worklog/updated feed pages (fixed)": feed_pages(updated, since["updated"], view.horizon),
        "worklog/deleted feed pages (fixed)": feed_pages(deleted, since["deleted"], view.horizon),
        "worklog/list drift read-back (fixed)": math.ceil(len(by_others) / LIST_MAX_IDS),
    }
    notes = {
        "project/search pages (fixed)": f"{len(before['projects'])} projects",
        "worklog/updated feed pages (fixed)": f"{changed} changes since the checkpoint",
        "worklog/list drift read-back (fixed)": (
            f"{len(by_others)} of h2j's worklogs changed by someone else"
        ),
    }
    return minimums, notes


def write_minimums(view: RunView) -> tuple[dict[str, int], dict[str, str]]:
    """Writes that the change in Jira needed, plus the refusals a run cannot foresee."""
    needed = changed_worklogs(own_worklogs(view.jira_before), own_worklogs(view.jira_after))
    refused, repeated = Counter(), Counter()
    for summary in view.loads.values():
        for failure in summary.get("failures") or []:
            if failure.get("status") is None:
                continue
            action = "create" if failure["action"] == "move" else failure["action"]
            (repeated if failure.get("known") else refused)[action] += 1
    minimums = {WRITE_KINDS[k]: needed[k] + refused[k] for k in WRITE_KINDS}
    notes = {}
    for kind, name in WRITE_KINDS.items():
        parts = [f"{needed[kind]} changed Jira"]
        if refused[kind]:
            parts.append(f"{refused[kind]} refused (new)")
        if repeated[kind]:
            parts.append(f"{repeated[kind]} refused again (known)")
        notes[name] = ", ".join(parts)
    return minimums, notes


def changed_worklogs(before: dict[int, dict], after: dict[int, dict]) -> Counter:
    """Creates, updates and deletes that turn h2j's worklogs ``before`` into ``after``."""
    needed: Counter = Counter()
    for entry_id in before.keys() | after.keys():
        old, new = before.get(entry_id), after.get(entry_id)
        if old is None:
            needed["create"] += 1
        elif new is None:
            needed["delete"] += 1
        elif old["issue_id"] != new["issue_id"]:
            needed.update(("create", "delete"))
        elif _fields(old) != _fields(new):
            needed["update"] += 1
    return needed


def _fields(worklog: dict[str, Any]) -> tuple:
    return worklog["time_spent_seconds"], worklog["started"], repr(worklog.get("comment"))


def _rows(
    service: str,
    routes: dict[str, str],
    counts: dict[str, int],
    minimums: dict[str, int],
    notes: dict[str, str],
) -> list[Row]:
    rows = [
        Row(service, kind, counts.get(route, 0), minimums.get(kind, 0), notes.get(kind, ""))
        for route, kind in routes.items()
    ]
    for route, count in sorted(counts.items()):
        if route not in routes:
            rows.append(Row(service, f"other: {route}", count, 0, "not needed by a sync"))
    return rows


# --- the runs ----------------------------------------------------------------------------


def measure(bench: Bench, label: str) -> Phase:
    """One sync, a simulated day after the last one; its requests against the minimum."""
    from bench import simulation as sim

    common.admin(bench.urls["jira"], "POST", "/clock/advance", json={"seconds": 61})
    harvest, jira_before = bench.state("harvest"), bench.state("jira")
    checkpoints = bench.checkpoints()
    horizon = bench.jira_now_ms() - FEED_QUIET_MS
    common.forget_requests(bench.urls["harvest"], bench.urls["jira"])
    started = time.monotonic()
    outcome = sim.run_sync(WINDOW)
    seconds = time.monotonic() - started
    load = common.load_average()
    view = RunView(harvest, jira_before, bench.state("jira"), checkpoints, horizon, outcome.loads)
    rows = harvest_rows(
        common.requests_seen(bench.urls["harvest"]), harvest, own_worklogs(jira_before)
    )
    rows += jira_rows(common.requests_seen(bench.urls["jira"]), view)
    return Phase(label, rows, seconds, load, outcome.failed)


def change_entries(bench: Bench, share: float, rng: random.Random) -> Counter:
    """Edit ``share`` of the window's finished entries through Harvest's public API."""
    harvest, jira = bench.state("harvest"), bench.state("jira")
    entries = [e for e in window_entries(harvest) if not e.get("is_running")]
    chosen = rng.sample(entries, min(len(entries), round(len(entries) * share)))
    keys = [i["key"] for i in jira["issues"] if not i.get("closed")]
    done: Counter = Counter()
    base = f"{bench.urls['harvest']}/v2/time_entries"
    for index, entry in enumerate(chosen):
        kind = EDIT_KINDS[index % len(EDIT_KINDS)]
        if kind == "repoint" and entry.get("external_reference"):
            kind = "reword"
        url = f"{base}/{entry['id']}"
        if kind == "delete":
            answer = bench.harvest.delete(url, timeout=30)
        else:
            answer = bench.harvest.patch(url, json=_edit(kind, entry, keys, rng), timeout=30)
        answer.raise_for_status()
        done[kind] += 1
    return done


def _edit(kind: str, entry: dict[str, Any], keys: list[str], rng: random.Random) -> dict:
    if kind == "hours":
        return {"hours": round(min(23.0, float(entry["hours"]) + 0.5), 2)}
    if kind == "reword":
        return {"notes": f"{entry.get('notes') or ''} (reviewed)"}
    return {"notes": f"{rng.choice(keys)} follow-up"}


def load_sample(urls: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Generate the account and load it; durations, so hours can be edited as hours."""
    from sandbox import sample

    data = sample.generate(
        seed=args.seed, people=args.people, month=MONTH, entries_per_person=args.entries
    )
    data["harvest"]["company"]["wants_timestamp_timers"] = False
    for service in ("harvest", "jira"):
        common.admin(urls[service], "PUT", "/state", json=data[service])
    return sample.state_summary(data)


def harvest_session() -> requests.Session:
    from sandbox.sample import HARVEST_ACCOUNT_ID, HARVEST_TOKEN

    session = requests.Session()
    session.headers.update(
        {
            "Authorization": f"Bearer {HARVEST_TOKEN}",
            "Harvest-Account-Id": HARVEST_ACCOUNT_ID,
            "User-Agent": "h2j bench (bench@example.com)",
        }
    )
    return session


def run(args: argparse.Namespace) -> tuple[list[Phase], dict[str, Any], Counter]:
    from bench import simulation as sim

    with common.scratch_database("h2j_bench_requests") as dsn, common.sandbox() as urls:
        summary = load_sample(urls, args)
        bench = Bench(urls, dsn, harvest_session())
        env = sim.sync_env(urls["harvest"], urls["jira"], dsn)
        # h2j's own retry policy and Harvest limiter: a timeout or a retry it makes in
        # production is a request it spends, and must be counted as one.
        with sim.environment(env):
            phases = [measure(bench, "first sync"), measure(bench, "rerun, nothing changed")]
            edits = change_entries(bench, args.changed, random.Random(args.seed))
            share = f"{args.changed:.0%}"
            phases.append(measure(bench, f"rerun after {share} edited"))
    return phases, summary, edits


# --- output ------------------------------------------------------------------------------


def print_phase(phase: Phase) -> None:
    rows = [
        (r.service, r.kind, r.actual, r.minimum, common.ratio(r.actual, r.minimum), r.note)
        for r in phase.rows
    ]
    for service in ("Harvest", "Jira", None):
        actual, minimum = phase.total(service)
        name = f"{service} total" if service else "all requests"
        rows.append(("", name, actual, minimum, common.ratio(actual, minimum), ""))
    print(f"\n### {phase.label} ({phase.seconds:.1f} s, load average {phase.load})\n")
    headers = ("service", "requests", "made", "minimum", "ratio", "why the minimum")
    print(common.table(headers, rows))
    excess = [r for r in phase.rows if r.actual > r.minimum]
    for row in excess:
        print(f"- over the minimum: {row.service} {row.kind}: {row.actual - row.minimum} extra")
    reasons = Counter(error[:160] for error in phase.failed_tasks.values())
    for reason, count in reasons.most_common():
        print(f"- {count} tasks failed: {reason}")


def print_summary(phases: list[Phase]) -> None:
    rows = []
    for phase in phases:
        actual, minimum = phase.total()
        within = "yes" if minimum and actual / minimum <= TARGET else "no"
        if not minimum:
            within = "yes" if not actual else "no"
        rows.append((phase.label, actual, minimum, common.ratio(actual, minimum), within))
    print("\n### Summary\n")
    headers = ("run", "requests made", "minimum", "ratio", f"within {TARGET:.2f}x")
    print(common.table(headers, rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.stop_cleanly_on_sigterm()
    common.fresh_airflow_home("requests")
    import h2j.flow  # noqa: F401  (Airflow sets its logging up on import; quiet it after)

    if not args.verbose:
        logging.disable(logging.CRITICAL)
    phases, summary, edits = run(args)
    print(f"## Requests per sync: {args.people} people x {args.entries} entries\n")
    print(common.machine())
    print(
        f"account: {summary['users']} people, {summary['time_entries']} entries, "
        f"{summary['issues']} issues ({summary['closed_issues']} closed); edits made: "
        + ", ".join(f"{n} {kind}" for kind, n in sorted(edits.items()))
    )
    for phase in phases:
        print_phase(phase)
    print_summary(phases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
