"""The Jira sandbox refuses a worklog comment past Jira's 32,767-character limit."""

from __future__ import annotations

import pytest
import requests

from sandbox import jira
from sandbox.server import RunningServer

AUTH = ("h2j-bot@example.com", "sandbox-jira-token")


@pytest.fixture(scope="module")
def site():
    server = RunningServer(jira.create_app()).start()
    requests.post(f"{server.url}/_sandbox/issues", json={"key": "OPS-1"}, timeout=10)
    yield server.url
    server.stop()


def post(site: str, version: str, comment) -> requests.Response:
    body = {"timeSpentSeconds": 60, "started": "2026-11-03T09:00:00.000+0000", "comment": comment}
    return requests.post(
        f"{site}/rest/api/{version}/issue/OPS-1/worklog", json=body, auth=AUTH, timeout=10
    )


def adf(text: str) -> dict:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


@pytest.mark.parametrize(("version", "wrap"), [("2", str), ("3", adf)])
def test_comment_at_the_limit_is_taken_and_one_more_unit_is_refused(site, version, wrap):
    assert post(site, version, wrap("x" * 32_767)).status_code == 201
    refused = post(site, version, wrap("x" * 32_766 + "😀"))
    assert refused.status_code == 400
    assert "too long" in refused.json()["errors"]["comment"]
