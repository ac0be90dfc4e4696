"""One person's writes go out side by side across issues, never two at once on one issue."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from h2j import load
from h2j.issue_groups import issue_groups


def row(entry_id: int, action: str, issue: str | None, old: str | None = None) -> dict:
    return {
        "entry_id": entry_id,
        "action": action,
        "issue_id": issue,
        "old_issue_id": old,
        "issue_key": issue and f"OPS-{issue}",
        "old_issue_key": old and f"OPS-{old}",
        "seconds": 3600,
        "pending_action": None,
        "last_error": None,
    }


def ids(groups: list[list[dict]]) -> list[list[int]]:
    return [[r["entry_id"] for r in group] for group in groups]


def test_rows_of_one_issue_stay_together_and_in_order():
    rows = [row(1, "create", "10"), row(2, "create", "11"), row(3, "update", "10", "10")]
    assert ids(issue_groups(rows)) == [[1, 3], [2]]


def test_a_move_joins_its_two_issues_and_everything_on_them():
    rows = [
        row(1, "create", "10"),
        row(2, "create", "11"),
        row(3, "create", "12"),
        row(4, "move", "12", "10"),
        row(5, "delete", None, "13"),
        row(6, "move", "13", "11"),
    ]
    assert ids(issue_groups(rows)) == [[1, 3, 4], [2, 5, 6]]


def test_a_row_without_an_issue_is_its_own_group():
    assert ids(issue_groups([row(1, "create", None), row(2, "create", None)])) == [[1], [2]]


@dataclass
class Recorder:
    """Stands in for Jira: notes which issues are being written at any moment."""

    busy: dict[str, int] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)
    most_at_once: int = 0  # issues being written at once
    lock: threading.Lock = field(default_factory=threading.Lock)
    written: list[int] = field(default_factory=list)
    broken_entry: int | None = None  # this entry's write raises an unexpected error

    def write(self, _target, planned: dict) -> None:
        if planned["entry_id"] == self.broken_entry:
            raise RuntimeError("ledger connection lost")
        issues = {i for i in (planned["issue_id"], planned["old_issue_id"]) if i}
        with self.lock:
            for issue in issues:
                if self.busy.get(issue):
                    self.overlaps.append(issue)
                self.busy[issue] = self.busy.get(issue, 0) + 1
            self.most_at_once = max(self.most_at_once, sum(self.busy.values()))
        time.sleep(0.02)
        with self.lock:
            for issue in issues:
                self.busy[issue] -= 1
            self.written.append(planned["entry_id"])


class FakeTarget:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.dry_run = False
        self.person = load.Person(user_id=7, name="Ada Lovelace", zone="UTC")
        self.forks = 0

    @contextmanager
    def fork(self):
        self.forks += 1
        yield self


@pytest.mark.parametrize("concurrency", [1, 4])
def test_writes_overlap_across_issues_but_never_on_one_issue(monkeypatch, concurrency):
    recorder = Recorder()
    monkeypatch.setitem(load.APPLY, "create", recorder.write)
    monkeypatch.setitem(load.APPLY, "move", recorder.write)
    rows = [row(n, "create", str(10 + n % 6)) for n in range(36)]
    rows += [row(100, "move", "10", "11"), row(101, "move", "12", "13")]
    target = FakeTarget(concurrency)
    summary = load.Summary(7, "Ada Lovelace")

    load.apply_writes(target, rows, summary)

    assert summary.counts == {"created": 36, "moved": 2}
    assert summary.seconds_pushed == 38 * 3600
    assert recorder.overlaps == []
    if concurrency == 1:
        assert recorder.most_at_once <= 2  # a move holds its two issues
        assert target.forks == 0
    else:
        assert 2 < recorder.most_at_once <= 2 * concurrency
        assert target.forks == 4


def many_creates(recorder: Recorder, monkeypatch, count: int) -> list[dict]:
    monkeypatch.setitem(load.APPLY, "create", recorder.write)
    return [row(n, "create", str(10 + n % 8)) for n in range(count)]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_an_unexpected_error_stops_every_writer(monkeypatch, concurrency):
    recorder = Recorder(broken_entry=0)
    rows = many_creates(recorder, monkeypatch, 80)

    with pytest.raises(RuntimeError, match="ledger connection lost"):
        load.apply_writes(FakeTarget(concurrency), rows, load.Summary(7, "Ada Lovelace"))

    # Each other writer finishes at most the write it had in hand.
    assert len(recorder.written) < 2 * concurrency


class TaskTimeout(Exception):
    """Stands in for Airflow's execution timeout, raised in the main thread by SIGALRM."""


def test_a_timeout_in_the_main_thread_stops_the_writers(monkeypatch):
    recorder = Recorder()
    rows = many_creates(recorder, monkeypatch, 80)

    def time_out(*_args):
        raise TaskTimeout

    previous = signal.signal(signal.SIGALRM, time_out)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    try:
        with pytest.raises(TaskTimeout):
            load.apply_writes(FakeTarget(4), rows, load.Summary(7, "Ada Lovelace"))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    written_by_then = len(recorder.written)
    time.sleep(0.1)

    assert len(recorder.written) == written_by_then
    assert written_by_then < 60
