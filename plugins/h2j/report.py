"""The run's report: one line per person and the totals, for the log, XCom and the UI."""

from __future__ import annotations

from typing import Any

import pandas as pd

from h2j.load import ACTIONS

COLUMNS = ["user", *ACTIONS, "hours_pushed", "status"]


def build_report(
    users: list[dict[str, Any]],
    extracts: dict[int, dict | None],
    loads: dict[int, dict | None],
    *,
    dry_run: bool,
) -> dict[str, Any]:
    """Combine the per-person XComs; a person with no load summary failed before loading."""
    lines = []
    for user in users:
        uid = int(user["id"])
        summary = loads.get(uid)
        line = {"user": user["name"], "user_id": uid}
        line.update({action: (summary or {}).get(action, 0) for action in ACTIONS})
        line["hours_pushed"] = (summary or {}).get("hours_pushed", 0.0)
        line["status"] = _status(extracts.get(uid), summary)
        line["failures"] = (summary or {}).get("failures", [])
        lines.append(line)

    frame = pd.DataFrame(lines, columns=[*COLUMNS, "user_id"])
    totals = {action: int(frame[action].sum()) for action in ACTIONS} if lines else {}
    totals["hours_pushed"] = round(float(frame["hours_pushed"].sum()), 2) if lines else 0.0
    failed = [line["user"] for line in lines if not line["status"].startswith("ok")]
    return {
        "dry_run": dry_run,
        "users": len(lines),
        "totals": totals,
        "failed_users": failed,
        "lines": lines,
    }


def _status(extract: dict | None, load: dict | None) -> str:
    if extract is None:
        return "extract failed"
    if load is None:
        return "load failed"
    if load.get("new_failures"):
        return f"{load['new_failures']} entries failed"
    if load.get("failed"):
        return f"ok ({load['failed']} failures already reported)"
    return "ok"


def report_table(report: dict[str, Any]) -> str:
    """A fixed-width table of the report for the task log."""
    if not report["lines"]:
        return "No users were synced."
    frame = pd.DataFrame(report["lines"], columns=COLUMNS)
    total = {
        "user": "TOTAL",
        **report["totals"],
        "status": f"{len(report['failed_users'])} users failed" if report["failed_users"] else "ok",
    }
    frame = pd.concat([frame, pd.DataFrame([total], columns=COLUMNS)], ignore_index=True)
    return frame.to_string(index=False)


def headline(report: dict[str, Any]) -> str:
    """One line for the run's note in the UI."""
    t = report["totals"]
    prefix = "Dry run: would have " if report["dry_run"] else ""
    return (
        f"{prefix}{report['users']} users: {t.get('created', 0)} created, "
        f"{t.get('updated', 0)} updated, {t.get('moved', 0)} moved, "
        f"{t.get('deleted', 0)} deleted, {t.get('failed', 0)} failed entries, "
        f"{t.get('hours_pushed', 0)} h pushed; failed users: "
        f"{', '.join(report['failed_users']) or 'none'}"
    )
