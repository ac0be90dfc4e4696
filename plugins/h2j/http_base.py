"""The HttpHook base both h2j hooks share, and the small HTTP pieces it needs.

:class:`PolicyHttpHook` sends every request through :func:`h2j.retry.send`, so each
hook adds only what its service needs: auth, headers, a rate limit, its endpoints. It
lives apart from the retry policy because the policy is plain ``requests`` and tenacity,
testable without Airflow, while this module is where Airflow's HttpHook comes in.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import requests
from airflow.providers.http.hooks.http import HttpHook

from h2j.errors import ApiError, BadSetting
from h2j.retry import DEFAULT_POLICY, RetryPolicy, send


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``; its repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


def site_url(host: str | None, schema: str | None, port: int | None) -> str:
    """The base URL of an API from an http connection's host, schema and port.

    Unlike HttpHook, this keeps a context path in ``host`` when a port is set (HttpHook
    would append the port after the path) and defaults to https, since every request
    carries a credential. A schema other than http or https is refused: a connection
    written as a URI puts the URL's path there, and guessing would send tokens astray.
    """
    if not host:
        raise BadSetting("the connection has no host")
    if schema and schema.lower() not in ("http", "https"):
        raise BadSetting(
            f"connection schema must be http or https, not {schema!r}; "
            "define the connection in JSON form with the path in host"
        )
    text = host if "://" in host else f"{(schema or 'https').lower()}://{host}"
    parts = urlsplit(text.rstrip("/"))
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class PolicyHttpHook(HttpHook):
    """An HttpHook whose every request goes through :func:`send` on one reused session.

    Subclasses name their ``service``, the connection extras that are settings rather
    than headers (``h2j_extra_keys``), and set auth and headers in ``configure_session``.
    The connection is looked up on first use, never in the constructor.
    """

    service: ClassVar[str] = ""
    h2j_extra_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        http_conn_id: str,
        *,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(method="GET", http_conn_id=http_conn_id, **kwargs)
        self.retry_policy = retry_policy or DEFAULT_POLICY
        self._connection: Any = None
        self._session: requests.Session | None = None

    @property
    def connection(self) -> Any:
        """The Airflow connection, looked up once."""
        if self._connection is None:
            self._connection = self.get_connection(self.http_conn_id)
        return self._connection

    @property
    def extras(self) -> dict[str, Any]:
        return self.connection.extra_dejson

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """HttpHook's session without h2j's settings as headers, with the service's auth.

        HttpHook copies every unknown connection extra into the request headers; the
        extras h2j reads itself would otherwise reach the vendor as headers.
        """
        session = super().get_conn(headers, extra_options)
        for key in self.h2j_extra_keys:
            session.headers.pop(key, None)
        conn = self.connection
        self.base_url = site_url(conn.host, conn.schema, conn.port)
        session.headers["Accept"] = "application/json"
        self.configure_session(session)
        return session

    def configure_session(self, session: requests.Session) -> None:
        """Set the service's auth and headers on ``session``."""
        raise NotImplementedError

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = self.get_conn()
        return self._session

    def before_attempt(self) -> None:
        """Called before each attempt, retries included; the Harvest hook rate limits here."""

    def url_for(self, link: str) -> str:
        """The URL of ``link``: a path under the base URL, or a URL the API gave.

        Paging links name the host the server believes it has; following them verbatim
        could send credentials elsewhere, so only their path and query are kept and put
        on the configured host.
        """
        base = urlsplit(self.base_url)
        if "://" not in link:
            return f"{self.base_url.rstrip('/')}/{link.lstrip('/')}"
        parts = urlsplit(link)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    def request(
        self,
        method: str,
        link: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        allow: Collection[int] = (),
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send one API request under the retry policy.

        :param link: a path under the base URL, or a paging URL the API gave.
        """
        session = self.session
        url = self.url_for(link)
        prepared = session.prepare_request(
            requests.Request(method.upper(), url, params=params, json=json)
        )
        options = {
            **self.merged_extra,
            "timeout": self.retry_policy.timeout,
            "check_response": False,
        }
        path = urlsplit(url).path
        self.log.debug("%s %s %s", self.service, method.upper(), path)

        def attempt() -> requests.Response:
            self.before_attempt()
            return self.run_and_check(session, prepared, options)

        return send(
            attempt,
            method=method,
            path=path,
            service=self.service,
            policy=self.retry_policy,
            idempotent=idempotent,
            allow=allow,
        )

    def json_of(self, response: requests.Response, what: str) -> Any:
        """The JSON body of ``response``; an ApiError naming ``what`` if it is not JSON."""
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(
                self.service,
                response.status_code,
                f"{what} is not valid JSON (cut short or not JSON)",
                method=response.request.method or "",
                path=urlsplit(response.url).path,
            ) from exc
