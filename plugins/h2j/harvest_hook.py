"""Reads users and time entries from the Harvest API v2.

The connection is a stock ``http`` connection: schema, host and port give the API host
(``https://api.harvestapp.com``), the password is a personal access token, and ``extra``
holds ``account_id`` and ``user_agent`` (a contact e-mail Harvest asks every client to
send). Harvest allows 100 requests per 15 seconds per token; one limiter per process
keeps h2j under that, and a 429 that still happens is waited out as ``Retry-After`` says.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from h2j.errors import ApiError, BadSetting
from h2j.http_base import BearerAuth, PolicyHttpHook
from h2j.retry import RateLimiter, RetryPolicy

HARVEST_MAX_PER_PAGE = 2000

# One process runs one task, and all hooks in it share a token, so they share one window.
PROCESS_RATE_LIMITER = RateLimiter(max_calls=100, period=15.0)


class HarvestHook(PolicyHttpHook):
    """Interact with the Harvest API v2 (read only).

    :param harvest_conn_id: the http connection described in the module docstring.
    :param retry_policy: timeouts and backoff; the h2j default when None.
    :param rate_limiter: the client-side limiter; the process-wide one when None.
    """

    conn_name_attr = "harvest_conn_id"
    default_conn_name = "harvest_default"
    conn_type = "http"
    hook_name = "Harvest"
    service = "harvest"
    h2j_extra_keys = frozenset({"account_id", "user_agent"})

    def __init__(
        self,
        harvest_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(http_conn_id=harvest_conn_id, retry_policy=retry_policy, **kwargs)
        self.harvest_conn_id = harvest_conn_id
        self.rate_limiter = rate_limiter or PROCESS_RATE_LIMITER

    @property
    def account_id(self) -> str:
        """The Harvest account id from the connection's ``account_id`` extra."""
        value = self.extras.get("account_id")
        if value in (None, ""):
            raise BadSetting(f"connection {self.harvest_conn_id!r} lacks extra 'account_id'")
        return str(value)

    @property
    def user_agent(self) -> str:
        """``h2j (<contact>)``: Harvest wants each client named with a way to reach its owner."""
        contact = self.extras.get("user_agent")
        if not contact:
            raise BadSetting(
                f"connection {self.harvest_conn_id!r} lacks extra 'user_agent' "
                "(a contact e-mail for Harvest)"
            )
        return f"h2j ({contact})"

    def configure_session(self, session: requests.Session) -> None:
        token = self.connection.password
        if not token:
            raise BadSetting(f"connection {self.harvest_conn_id!r} has no token in password")
        session.auth = BearerAuth(token)
        session.headers["Harvest-Account-Id"] = self.account_id
        session.headers["User-Agent"] = self.user_agent

    def before_attempt(self) -> None:
        self.rate_limiter.acquire()

    def me(self) -> dict[str, Any]:
        """The user the token belongs to."""
        return self.json_of(self.request("GET", "/v2/users/me"), "GET /v2/users/me")

    def company(self) -> dict[str, Any]:
        """The account's company settings (time zone, clock, wants_timestamp_timers...)."""
        return self.json_of(self.request("GET", "/v2/company"), "GET /v2/company")

    def get_time_entry(self, entry_id: int | str) -> dict[str, Any] | None:
        """One time entry, or None when Harvest answers 404 (deleted or never existed)."""
        path = f"/v2/time_entries/{quote(str(entry_id), safe='')}"
        response = self.request("GET", path, allow=(404,))
        if response.status_code == 404:
            return None
        return self.json_of(response, f"time entry {entry_id}")

    def iter_users(self, is_active: bool | None = True) -> Iterator[dict[str, Any]]:
        """Every user of the account, active only by default (None: all users)."""
        params: dict[str, Any] = {"per_page": HARVEST_MAX_PER_PAGE}
        if is_active is not None:
            params["is_active"] = "true" if is_active else "false"
        for page in self._pages("/v2/users", params, "users", "users"):
            yield from page

    def iter_time_entry_pages(
        self,
        user_id: int | str,
        from_date: date | str,
        to_date: date | str,
        per_page: int = HARVEST_MAX_PER_PAGE,
    ) -> Iterator[list[dict[str, Any]]]:
        """The time entries of one user between two dates (inclusive), a page at a time.

        Pages are fetched as they are consumed, so a large month never sits in memory
        whole.
        """
        params = {
            "user_id": user_id,
            "from": _day(from_date),
            "to": _day(to_date),
            "per_page": per_page,
        }
        yield from self._pages("/v2/time_entries", params, "time_entries", f"user {user_id}")

    def _pages(
        self, path: str, params: dict[str, Any], key: str, whose: str
    ) -> Iterator[list[dict[str, Any]]]:
        """Follow ``links.next`` from ``path`` until Harvest sets it to null."""
        link: str | None = path
        number = 0
        seen: set[str] = set()
        while link is not None:
            number += 1
            seen.add(link)
            what = f"{key} page {number} for {whose}"
            response = self._fetch_page(link, params, what)
            body = self.json_of(response, what)
            items, next_link = _page_parts(body, key)
            if items is None:
                raise self._bad_page(response, what, f"has no '{key}' list or 'links'")
            yield items
            link = self.url_for(next_link) if next_link else None
            params = None
            if link in seen:
                raise self._bad_page(response, what, "links back to a page already read")

    def _fetch_page(self, link: str, params: dict[str, Any] | None, what: str) -> requests.Response:
        """One page; a failure keeps its class and gains the name of the page it hit."""
        try:
            return self.request("GET", link, params=params)
        except ApiError as exc:
            raise type(exc)(
                exc.service, exc.status, f"{what}: {exc.message}", method=exc.method, path=exc.path
            ) from exc

    def _bad_page(self, response: requests.Response, what: str, problem: str) -> ApiError:
        return ApiError(
            self.service,
            response.status_code,
            f"{what} {problem}",
            method="GET",
            path=urlsplit(response.url).path,
        )


def _page_parts(body: Any, key: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The items and the next link of one page; (None, None) when the page is malformed."""
    if not isinstance(body, dict):
        return None, None
    items = body.get(key)
    links = body.get("links")
    if not isinstance(items, list) or not isinstance(links, dict):
        return None, None
    return items, links.get("next")


def _day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
