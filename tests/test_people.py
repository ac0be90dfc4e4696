"""Grouping people so that Airflow's max_map_length is never exceeded."""

from __future__ import annotations

import pytest

from h2j.people import for_each, groups_of


def people(n: int) -> list[dict]:
    return [{"id": i, "name": f"Person {i}"} for i in range(n)]


@pytest.mark.parametrize(
    ("count", "limit", "groups", "largest"),
    [(3, 1024, 3, 1), (5000, 1024, 1000, 5), (1025, 1024, 513, 2), (0, 1024, 0, 0)],
)
def test_groups_stay_within_the_limit_and_keep_everyone(count, limit, groups, largest):
    grouped = groups_of(people(count), limit)
    assert len(grouped) == groups
    assert len(grouped) <= limit
    assert max((len(g) for g in grouped), default=0) == largest
    assert [p["id"] for g in grouped for p in g] == list(range(count))


def test_one_persons_failure_does_not_stop_the_group():
    def step(person):
        if person["id"] == 1:
            raise RuntimeError("Harvest said 403")
        return person["id"]

    results, errors = for_each(people(3), step, "extract")
    assert results == [0, 2]
    assert errors == ["Person 1 (user 1): Harvest said 403"]
