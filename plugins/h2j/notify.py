"""Tell people when a sync task fails: one line in the log, and on Slack or by e-mail.

Delivery is optional: a Slack incoming-webhook connection ``h2j_slack`` (type http, host
= the webhook URL) and/or the Variable ``h2j_alert_email`` (addresses, comma separated,
sent through Airflow's ``smtp_default`` connection). A delivery problem is logged and
never hides the task's own failure.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

SLACK_CONN_ID = "h2j_slack"
MAX_REASON = 300


def failure_summary(context: dict[str, Any]) -> str:
    """``harvest_to_jira <run>: load [Ada Lovelace] failed (try 2): <reason>`` on one line."""
    ti = context.get("ti") or context.get("task_instance")
    task = getattr(ti, "task_id", "?")
    who = getattr(ti, "rendered_map_index", None)
    where = f"{task} [{who}]" if who else task
    tries = getattr(ti, "try_number", None)
    reason = " ".join(str(context.get("exception") or "no exception recorded").split())
    if len(reason) > MAX_REASON:
        reason = reason[: MAX_REASON - 1] + "…"
    dag_id = getattr(ti, "dag_id", "harvest_to_jira")
    run_id = getattr(ti, "run_id", context.get("run_id", "?"))
    return f"{dag_id} {run_id}: {where} failed (try {tries}): {reason}"


def task_failed(context: dict[str, Any]) -> str:
    """``on_failure_callback`` of every h2j task."""
    summary = failure_summary(context)
    log.error("%s", summary)
    for send in (_to_slack, _by_email):
        try:
            send(summary)
        except Exception:  # delivery is best effort; the failure itself is already logged
            log.warning(
                "Could not send the failure notice through %s", send.__name__[1:], exc_info=True
            )
    return summary


def _to_slack(summary: str) -> None:
    from airflow.providers.http.hooks.http import HttpHook
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(SLACK_CONN_ID)
    except Exception:  # no Slack connection configured: nothing to send
        return
    HttpHook(method="POST", http_conn_id=SLACK_CONN_ID).run(
        endpoint="", json={"text": summary}, extra_options={"timeout": 10}
    )


def _by_email(summary: str) -> None:
    from airflow.sdk import Variable

    recipients = Variable.get("h2j_alert_email", default=None)
    if not recipients:
        return
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook() as smtp:
        smtp.send_email_smtp(
            to=[r.strip() for r in recipients.split(",") if r.strip()],
            subject=summary[:120],
            html_content=f"<p>{summary}</p>",
        )
