"""Find a PostgreSQL server for h2j's demo and tests, or start a private one.

Prints a libpq DSN on stdout. The order: ``H2J_PG_DSN`` when set; the server on
127.0.0.1:5432 when it answers; a private cluster under ``.h2j/pg`` built from the
machine's PostgreSQL binaries; otherwise a message saying what to install.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PRIVATE_DIR = ROOT / ".h2j" / "pg"
PRIVATE_PORT = int(os.environ.get("H2J_PG_PRIVATE_PORT", "54329"))
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def answers(dsn: str) -> bool:
    """True when a server accepts a connection at ``dsn`` within a few seconds."""
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def find_binary(name: str) -> str | None:
    """The PostgreSQL binary ``name`` from PATH or Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def as_cluster_owner(args: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root, so hand them to the postgres user."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


def start_private_cluster() -> str:
    """Create (once) and start a cluster under .h2j/pg listening on loopback only."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if not initdb or not pg_ctl:
        sys.exit(
            "h2j needs PostgreSQL: none answers on 127.0.0.1:5432 and no initdb/pg_ctl was "
            "found. Install it (Debian: apt-get install postgresql) or set H2J_PG_DSN."
        )

    PRIVATE_DIR.mkdir(parents=True, exist_ok=True)
    data, sockets = PRIVATE_DIR / "data", PRIVATE_DIR / "run"
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(PRIVATE_DIR, "postgres")
        shutil.chown(sockets, "postgres")

    if not (data / "PG_VERSION").exists():
        subprocess.run(
            as_cluster_owner([initdb, "-D", str(data), "-U", "postgres", "-A", "trust"]),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    dsn = f"postgresql://postgres@127.0.0.1:{PRIVATE_PORT}/postgres"
    if not answers(dsn):
        options = f"-p {PRIVATE_PORT} -k {sockets} -c listen_addresses=127.0.0.1"
        log = PRIVATE_DIR / "server.log"
        subprocess.run(
            as_cluster_owner(
                [pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return dsn


def main() -> None:
    dsn = os.environ.get("H2J_PG_DSN")
    if dsn:
        if not answers(dsn):
            sys.exit("H2J_PG_DSN is set but no PostgreSQL server answers there.")
    elif answers(LOCAL_DSN):
        dsn = LOCAL_DSN
    else:
        dsn = start_private_cluster()
    print(dsn)


if __name__ == "__main__":
    main()
