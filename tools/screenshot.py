"""``python -m tools.screenshot``: the picture of per-person map indexes in README.

It starts what ``tests/test_scale_out.py`` starts (the sandbox servers, a fresh ledger and
metadata database, an api-server, a scheduler, a dag-processor and two Celery workers),
lets a small team log November's hours with Alan Turing's Jira issue refusing every
worklog, runs ``harvest_to_jira`` once, and photographs the run's ``load`` task in the
real Airflow UI with headless Chromium: one row per person, named after them, Alan's
failed. Everything it started is stopped and dropped again.

``--url`` photographs a page of an api-server that is already running instead.

Chromium is driven over its DevTools pipe (``--remote-debugging-pipe``) rather than with
``--screenshot``, because the UI draws its tables after the page's load event and a plain
``--screenshot`` catches an empty page. Needs Debian's ``chromium`` on the PATH; a
developer-time tool, not used by the test suite.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]
TEAM = [
    ("Ada", "Lovelace", "London", "OPS-7"),
    ("Grace", "Hopper", "Eastern Time (US & Canada)", "OPS-7"),
    ("Katherine", "Johnson", "Eastern Time (US & Canada)", "WEB-3"),
    ("Margaret", "Hamilton", "Pacific Time (US & Canada)", "WEB-3"),
    ("Edsger", "Dijkstra", "Amsterdam", "OPS-7"),
    ("Alan", "Turing", "London", "ZED-1"),
]
FAILING_ISSUE = "ZED-1"


class DevTools:
    """Chromium's DevTools protocol over the pipe: JSON messages ended by a NUL byte."""

    def __init__(self, to_browser: int, from_browser: int):
        self.to_browser = os.fdopen(to_browser, "wb", buffering=0)
        self.from_browser = os.fdopen(from_browser, "rb", buffering=0)
        self.buffer = b""
        self.next_id = 0

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.to_browser.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def close(self) -> None:
        self.to_browser.close()
        self.from_browser.close()

    def _read(self) -> dict:
        while b"\0" not in self.buffer:
            chunk = self.from_browser.read(65536)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)


@contextmanager
def chromium(binary: str) -> Iterator[DevTools]:
    """Headless Chromium reading DevTools calls on descriptor 3 and answering on 4."""
    browser_reads, we_write = os.pipe()
    we_read, browser_writes = os.pipe()
    profile = tempfile.mkdtemp(prefix="h2j-chromium-")
    # The shell puts the two pipe ends on the descriptors Chromium expects, then execs it.
    wiring = f'exec "$0" "$@" 3<&{browser_reads} 4>&{browser_writes}'
    process = subprocess.Popen(
        ["sh", "-c", wiring, binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"],
        pass_fds=(browser_reads, browser_writes),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(browser_reads)
    os.close(browser_writes)
    tools = DevTools(we_write, we_read)
    try:
        yield tools
    finally:
        with suppress(RuntimeError, OSError):
            tools.call("Browser.close")
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.terminate()
        # Renderer and zygote children share the browser's own process group.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        tools.close()
        shutil.rmtree(profile, ignore_errors=True)


def capture(url: str, out: Path, wait_for: list[str], size: tuple[int, int] = (1500, 820)) -> None:
    """Open ``url``, wait until every text in ``wait_for`` is on the page, save a PNG."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        raise SystemExit("chromium is not installed (Debian: apt-get install -y chromium)")
    with chromium(binary) as tools:
        target = tools.call("Target.createTarget", url="about:blank")["targetId"]
        session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        width, height = size
        tools.call(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        tools.call("Page.navigate", session, url=url)
        probe = " && ".join(f"document.body.innerText.includes({json.dumps(t)})" for t in wait_for)
        deadline = time.monotonic() + 90
        while not tools.call("Runtime.evaluate", session, expression=probe)["result"].get("value"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} never showed {wait_for}")
            time.sleep(0.5)
        # The tables animate in; let them settle before the picture.
        time.sleep(2)
        shot = tools.call("Page.captureScreenshot", session, format="png")
        out.write_bytes(base64.b64decode(shot["data"]))
    log.info("Saved %s", out)


def run_team(cluster, world) -> str:
    """Log the team's November, make Alan's issue refuse worklogs, run once; the run id."""
    issues = {key: world.add_issue(key, estimate_hours=40) for key in {t[3] for t in TEAM}}
    for number, (first, last, zone, key) in enumerate(TEAM):
        person = world.add_person(first, last, zone)
        for day in (3, 4, 5):
            world.log(person, f"2026-11-{day + number:02d}", 1.5 + number / 4, f"{key} work")
    failing = rf"/issue/({FAILING_ISSUE}|{issues[FAILING_ISSUE]})/worklog$"
    world.sandbox.faults(
        "jira", [{"kind": "error", "status": 500, "method": "POST", "path": failing}]
    )
    emails = [f"{first}.{last}@example.com".lower() for first, last, _, _ in TEAM]
    conf = {"from_date": "2026-11-01", "to_date": "2026-11-30", "users": emails}
    run_id = cluster.trigger(conf)
    log.info("Run %s ended %s", run_id, cluster.wait_run(run_id, timeout=300))
    return run_id


def sandbox_urls(ready: Path, process: subprocess.Popen, seconds: float = 60) -> dict:
    """The URLs ``python -m sandbox`` writes to its ready file once both servers listen."""
    deadline = time.monotonic() + seconds
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the sandbox servers did not start")
        time.sleep(0.1)
    return json.loads(ready.read_text(encoding="utf-8"))


def photograph_fresh_run(out: Path) -> None:
    """Start everything, run the team once, photograph the run's ``load`` task."""
    from sandbox.__main__ import connection_env
    from tests.airflow_cluster import (
        create_database,
        drop_database,
        ledger_connection,
        running_cluster,
    )
    from tests.fixtures.sandbox import Sandbox
    from tests.world import World
    from tools.demo_setup import server_dsn

    server = server_dsn()
    work = Path(tempfile.mkdtemp(prefix="h2j-screenshot-"))
    ready = work / "sandbox.json"
    sandbox_args = [sys.executable, "-m", "sandbox", "--harvest-port", "0", "--jira-port", "0"]
    sandbox_process = subprocess.Popen(
        [*sandbox_args, "--ready-file", str(ready)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ledger = create_database(server, "h2j_screenshot")
    try:
        box = Sandbox(sandbox_urls(ready, sandbox_process))
        box.reset()
        connections = connection_env(box.harvest_url, box.jira_url)
        connections["AIRFLOW_CONN_H2J_POSTGRES"] = ledger_connection(server, ledger)
        with running_cluster(work / "airflow", server, connections) as cluster:
            cluster.unpause()
            run_id = run_team(cluster, World(box))
            page = f"/dags/harvest_to_jira/runs/{quote(run_id, safe='')}/tasks/load/mapped"
            names = [f"{first} {last}" for first, last, _, _ in TEAM]
            capture(cluster.base_url + page, out, names)
    finally:
        sandbox_process.terminate()
        sandbox_process.wait(timeout=15)
        drop_database(server, ledger)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshot", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "grid.png")
    parser.add_argument("--url", help="photograph this page of a running api-server instead")
    parser.add_argument(
        "--wait-for", action="append", default=[], help="text the page must show first"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.url:
        capture(args.url, args.out, args.wait_for or ["Map Index"])
    else:
        photograph_fresh_run(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
