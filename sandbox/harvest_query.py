"""Query strings of Harvest's list endpoints: filters, sort order and the paging wrapper.

A filter value Harvest could not read is answered with 422 rather than ignored, so a
client that sends ``from=03/01/2026`` finds out here instead of silently getting
everything. ``per_page`` must lie in 1..2000 (default 2000) and ``page`` starts at 1.
The wrapper's ``links`` are absolute URLs that keep the request's filters, so a client
may page by following ``links.next`` alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request

from sandbox.harvest_store import HarvestError, parse_stamp

MAX_PER_PAGE = 2000
_NOT_IN_LINKS = {"page", "per_page", "access_token", "account_id"}

Predicate = Callable[[dict[str, Any]], bool]


def _int(query: QueryParams, key: str) -> int | None:
    raw = query.get(key)
    if raw is None:
        return None
    if not raw.isdigit():
        raise HarvestError(422, f"{key} must be an integer")
    return int(raw)


def _bool(query: QueryParams, key: str) -> bool | None:
    raw = query.get(key)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise HarvestError(422, f"{key} must be true or false")
    return raw == "true"


def _date(query: QueryParams, key: str) -> str | None:
    raw = query.get(key)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise HarvestError(422, f"{key} must be an ISO 8601 date") from None


def _since(query: QueryParams) -> datetime | None:
    raw = query.get("updated_since")
    if raw is None:
        return None
    try:
        return parse_stamp(raw.replace(" ", "+"))
    except ValueError:
        raise HarvestError(422, "updated_since must be an ISO 8601 date and time") from None


def page_params(query: QueryParams) -> tuple[int, int]:
    page = _int(query, "page")
    per_page = _int(query, "per_page")
    page = 1 if page is None else page
    per_page = MAX_PER_PAGE if per_page is None else per_page
    if page < 1:
        raise HarvestError(422, "page must be 1 or more")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise HarvestError(422, f"per_page must be between 1 and {MAX_PER_PAGE}")
    return page, per_page


def _id_is(field: str, wanted: int) -> Predicate:
    return lambda item: (item.get(field) or {}).get("id") == wanted


def _updated_since(since: datetime) -> Predicate:
    return lambda item: bool(item.get("updated_at")) and parse_stamp(item["updated_at"]) >= since


def entry_filters(query: QueryParams) -> list[Predicate]:
    """Predicates for ``GET /v2/time_entries``; ``from`` and ``to`` are inclusive."""
    tests: list[Predicate] = []
    for key, field in (
        ("user_id", "user"),
        ("client_id", "client"),
        ("project_id", "project"),
        ("task_id", "task"),
    ):
        wanted = _int(query, key)
        if wanted is not None:
            tests.append(_id_is(field, wanted))
    reference = query.get("external_reference_id")
    if reference is not None:
        tests.append(lambda e: (e.get("external_reference") or {}).get("id") == reference)
    tests.extend(_flag_filters(query, ("is_billed", "is_running")))
    first, last = _date(query, "from"), _date(query, "to")
    if first:
        tests.append(lambda e: (e.get("spent_date") or "") >= first)
    if last:
        tests.append(lambda e: (e.get("spent_date") or "9999") <= last)
    since = _since(query)
    if since:
        tests.append(_updated_since(since))
    return tests


def user_filters(query: QueryParams) -> list[Predicate]:
    """Predicates for ``GET /v2/users``."""
    tests = _flag_filters(query, ("is_active",))
    since = _since(query)
    if since:
        tests.append(_updated_since(since))
    return tests


def _flag_filters(query: QueryParams, keys: tuple[str, ...]) -> list[Predicate]:
    tests: list[Predicate] = []
    for key in keys:
        wanted = _bool(query, key)
        if wanted is not None:
            tests.append(lambda item, k=key, w=wanted: bool(item.get(k)) == w)
    return tests


def newest_first(item: dict[str, Any]) -> tuple[str, datetime, int]:
    """Sort key, used reversed: by spent date (if any), then creation time, then id."""
    created = item.get("created_at")
    when = parse_stamp(created).astimezone(UTC).replace(tzinfo=None) if created else datetime.min
    return item.get("spent_date") or "", when, int(item.get("id") or 0)


def paginate(
    request: Request, key: str, items: list[dict[str, Any]], page: int, per_page: int
) -> dict[str, Any]:
    """One page of ``items`` in Harvest's wrapper, with absolute ``links``."""
    total_pages = math.ceil(len(items) / per_page)
    next_page = page + 1 if page < total_pages else None
    previous_page = page - 1 if page > 1 else None
    return {
        key: items[(page - 1) * per_page : page * per_page],
        "per_page": per_page,
        "total_pages": total_pages,
        "total_entries": len(items),
        "next_page": next_page,
        "previous_page": previous_page,
        "page": page,
        "links": {
            "first": _link(request, 1, per_page),
            "next": _link(request, next_page, per_page),
            "previous": _link(request, previous_page, per_page),
            "last": _link(request, max(total_pages, 1), per_page),
        },
    }


def _link(request: Request, page: int | None, per_page: int) -> str | None:
    if page is None:
        return None
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in _NOT_IN_LINKS]
    query = urlencode([*kept, ("page", page), ("per_page", per_page)])
    return f"{str(request.base_url).rstrip('/')}{request.url.path}?{query}"
