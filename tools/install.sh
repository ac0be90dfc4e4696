#!/usr/bin/env bash
# Creates .venv and installs requirements.txt: with uv when it can be had (seconds), else pip.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${H2J_PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "h2j needs Python 3.11 or newer; $python is $("$python" --version 2>&1)." >&2
    exit 1
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv

if command -v uv >/dev/null 2>&1; then
    uv=$(command -v uv)
elif .venv/bin/pip install --quiet --disable-pip-version-check uv==0.13.9 >/dev/null 2>&1; then
    uv=.venv/bin/uv
else
    uv=
fi

if [ -n "$uv" ]; then
    VIRTUAL_ENV=$PWD/.venv "$uv" pip install --quiet -r requirements.txt
else
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
fi
echo "Installed requirements.txt into .venv" >&2
