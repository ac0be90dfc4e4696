"""``python -m sandbox``: both sandbox servers on loopback, for the demo and the tests.

It prints where each server listens and the two Airflow connection variables that point
h2j at them. ``--ready-file`` receives ``{"harvest": url, "jira": url, "jira_base": url}``
once both listen (and hold the sample, with ``--sample``), so a caller can wait for a file
instead of parsing output; ``jira`` is the server's root (where ``/_sandbox`` lives) and
``jira_base`` the site's base URL. It serves until SIGTERM or SIGINT, then stops both and
exits 0.

Jira plays Cloud (API v3, e-mail and API token) unless ``--jira-context-path`` is given:
then it serves under that path, as a Data Center site does (``https://jira.acme.com/jira``),
and the printed connection speaks API v2 with a personal access token.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import requests

from sandbox import harvest, jira, sample
from sandbox.server import RunningServer

log = logging.getLogger(__name__)

HARVEST_USER_AGENT = "h2j-sandbox@example.com"
JIRA_FLAVOURS = ("cloud", "datacenter")


def connection_env(harvest_url: str, jira_url: str, flavour: str = "cloud") -> dict[str, str]:
    """The ``AIRFLOW_CONN_*`` variables, in Airflow's JSON form, for the two sandboxes.

    JSON rather than a URI because Airflow turns an ``https://`` URI of an http connection
    into plain http; the JSON form keeps the scheme in ``schema``. ``jira_url`` is the
    site's base URL, context path included; ``flavour`` is one of ``JIRA_FLAVOURS``.
    """
    harvest_conn = _endpoint(harvest_url) | {
        "password": sample.HARVEST_TOKEN,
        "extra": {"account_id": sample.HARVEST_ACCOUNT_ID, "user_agent": HARVEST_USER_AGENT},
    }
    return {
        "AIRFLOW_CONN_HARVEST_DEFAULT": json.dumps(harvest_conn),
        "AIRFLOW_CONN_JIRA_DEFAULT": json.dumps(jira_connection(jira_url, flavour)),
    }


def jira_connection(jira_url: str, flavour: str = "cloud") -> dict:
    """The Jira connection as a Cloud or a Data Center site would need it.

    Data Center gets no ``site`` extra: h2j must then key its ledger on the host and the
    context path, which is what a real Data Center deployment exercises.
    """
    if flavour == "cloud":
        return _endpoint(jira_url) | {
            "login": sample.JIRA_EMAIL,
            "password": sample.JIRA_API_TOKEN,
            "extra": {"api_version": "3", "site": sample.JIRA_SITE},
        }
    if flavour == "datacenter":
        return _endpoint(jira_url) | {
            "password": sample.JIRA_PAT,
            "extra": {"api_version": "2", "auth": "bearer"},
        }
    raise ValueError(f"Jira flavour must be one of {JIRA_FLAVOURS}, not {flavour!r}")


def _endpoint(url: str) -> dict:
    """Scheme, host and port apart; a context path stays on the host, as h2j expects."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"{parts.hostname}{parts.path.rstrip('/')}"
    return {"conn_type": "http", "schema": parts.scheme, "host": host, "port": port}


def context_path(text: str | None) -> str:
    """``/jira`` for ``jira``, ``/jira/`` or ``/jira``; empty for none."""
    stripped = (text or "").strip().strip("/")
    return f"/{stripped}" if stripped else ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Serve the Harvest and Jira sandboxes until stopped.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0 inside a container)"
    )
    parser.add_argument("--harvest-port", type=int, default=5010, help="0 picks a free port")
    parser.add_argument("--jira-port", type=int, default=5020, help="0 picks a free port")
    parser.add_argument(
        "--jira-context-path",
        type=context_path,
        default="",
        help="serve Jira under this path (/jira) as Data Center: API v2, personal access token",
    )
    parser.add_argument("--sample", action="store_true", help="load the generated sample")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--people", type=int, default=12)
    parser.add_argument("--month", help="YYYY-MM of the sample; default: last month")
    parser.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="turn off Harvest's 100 requests per 15 seconds",
    )
    parser.add_argument("--ready-file", type=Path, help="write the two URLs here as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    limits = {"rate_limit": None} if args.no_rate_limit else {}
    servers = {
        "harvest": RunningServer(
            harvest.create_app(**limits), port=args.harvest_port, host=args.host
        ),
        "jira": RunningServer(
            jira.create_app(context_path=args.jira_context_path),
            port=args.jira_port,
            host=args.host,
        ),
    }
    try:
        for server in servers.values():
            server.start()
        urls = {name: server.url for name, server in servers.items()}
        if args.sample:
            _load_sample(urls, args)
        urls["jira_base"] = urls["jira"] + args.jira_context_path
        _announce(urls, "datacenter" if args.jira_context_path else "cloud")
        if args.ready_file:
            _write_atomically(args.ready_file, json.dumps(urls))
        while not stop.wait(0.5):
            pass
    finally:
        for server in servers.values():
            server.stop()
    log.info("Sandbox servers stopped")
    return 0


def _load_sample(urls: dict[str, str], args: argparse.Namespace) -> None:
    """Load the sample through each server's own admin API, as a test would."""
    data = sample.generate(seed=args.seed, people=args.people, month=args.month)
    for name, url in urls.items():
        response = requests.put(f"{url}/_sandbox/state", json=data[name], timeout=30)
        response.raise_for_status()
    log.info("Loaded sample (seed %s): %s", args.seed, sample.state_summary(data))


def _announce(urls: dict[str, str], flavour: str) -> None:
    print(f"Harvest sandbox: {urls['harvest']}", flush=True)
    print(f"Jira sandbox:    {urls['jira_base']} ({flavour})", flush=True)
    for name, value in connection_env(urls["harvest"], urls["jira_base"], flavour).items():
        print(f"export {name}={shlex.quote(value)}", flush=True)


def _write_atomically(path: Path, text: str) -> None:
    """Write then rename, so a reader polling for the file never sees half of it."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(main())
