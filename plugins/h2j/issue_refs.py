"""Work out which Jira issue a Harvest time entry belongs to.

An entry can name its issue in two ways. Harvest's Jira integration stores an
``external_reference`` when a timer is started from an issue: ``id`` is the Jira issue id,
``group_id`` the project id, ``service`` the Jira site host and ``permalink``
``https://<site>/browse/<KEY>`` (the key is frozen when the timer starts, so the id is the
more durable of the two). People who track time in Harvest itself type the key into the
notes instead. Both readers here are pure and forgiving: Harvest data that is missing or
odd yields ``None`` or an empty list, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

# Jira's default project key rule is 2..10 characters; sites may raise the maximum to 255.
_KEY = r"[A-Za-z][A-Za-z0-9_]{1,254}-[1-9][0-9]*"
# \w is Unicode-aware here, so a key glued to any letter, digit, "_" or "-" is not a key.
_KEY_IN_TEXT = re.compile(rf"(?<![\w-])({_KEY})(?![\w-])")
_KEY_AT_PATH_END = re.compile(rf"/browse/({_KEY})/?\Z")
_ISSUE_ID = re.compile(r"[0-9]{1,19}")
# Jira Cloud sites live under these domains; older sites still answer on *.jira.com.
_CLOUD_DOMAINS = (".atlassian.net", ".jira.com")


@dataclass(frozen=True)
class IssueRef:
    """A Jira issue as Harvest's external reference names it: by id, by key, or both."""

    issue_id: str | None
    key: str | None


def candidate_keys(notes: str | None) -> list[str]:
    """Every syntactic Jira issue key in ``notes``, upper-cased, first occurrence first.

    Matching is case-insensitive and whole-word: ``(OPS-1)``, ``OPS-1:`` and ``[ops-1]``
    count, ``xOPS-1``, ``OPS-12a`` and ``OPS-1-2`` do not, and ``2026-05`` never does
    because a project key starts with a letter. These are only candidates: ``UTF-8`` or
    ``ISO-8601`` look exactly like keys, so the caller must drop every candidate whose
    project the Jira site does not know (``first_known_key`` does that).
    """
    if not isinstance(notes, str):
        return []
    seen: dict[str, None] = {}
    for match in _KEY_IN_TEXT.finditer(notes):
        seen.setdefault(match.group(1).upper(), None)
    return list(seen)


def project_of(key: str) -> str:
    """The project part of an issue key: ``OPS`` for ``OPS-12``."""
    return key.rsplit("-", 1)[0].upper()


def first_known_key(notes: str | None, known_projects: Collection[str]) -> str | None:
    """The first key in ``notes`` whose project exists on the Jira site, else ``None``."""
    known = {project.upper() for project in known_projects}
    for key in candidate_keys(notes):
        if project_of(key) in known:
            return key
    return None


def reference_from_external(ref: Mapping | None, site: str | None = None) -> IssueRef | None:
    """Read the Jira issue out of a Harvest ``external_reference``, if it can be trusted.

    The id is kept when it is all digits; the key comes from a permalink whose path ends
    in ``/browse/KEY`` (query and fragment ignored). The reference must be attributable
    to a Jira site through its ``service`` or permalink host, and the two must agree:

    - with ``site`` (a host or a URL), that host must be the site's, so references made
      on another Jira site are ignored;
    - without ``site``, the host must be a Jira Cloud domain or the permalink must have
      Jira's ``/browse/KEY`` shape (a self-hosted Jira).

    Harvest documents ``service`` only as a field of the object; other integrations put
    their own host there (``trello.com``, ``github.com``, ``app.asana.com``), so those give
    ``None``. A bare id with neither service nor permalink gives ``None`` too: it might be
    a GitHub or Asana id, and logging time on an unrelated issue is worse than falling
    back to the key in the notes.
    """
    if not isinstance(ref, Mapping):
        return None
    link = _split_url(ref.get("permalink"))
    key = _key_from_link(link)
    if not _belongs_to_jira(_host(ref.get("service")), _hostname(link), key, _host(site)):
        return None
    issue_id = _issue_id(ref.get("id"))
    if issue_id is None and key is None:
        return None
    return IssueRef(issue_id=issue_id, key=key)


def _belongs_to_jira(
    service_host: str | None, link_host: str | None, key: str | None, site_host: str | None
) -> bool:
    """Whether the reference's hosts name the expected Jira site (see the caller)."""
    hosts = {host for host in (service_host, link_host) if host}
    if len(hosts) != 1:
        return False
    (host,) = hosts
    if site_host:
        return host == site_host
    return host.endswith(_CLOUD_DOMAINS) or key is not None


def _split_url(value: object) -> SplitResult | None:
    """Split a URL, also one written without a scheme; ``None`` when it is not a URL."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if "://" not in text and not text.startswith("/"):
        text = "//" + text
    try:
        return urlsplit(text)
    except ValueError:
        return None


def _hostname(parts: SplitResult | None) -> str | None:
    """The lower-case host of split URL parts, without a trailing dot."""
    if parts is None or not parts.hostname:
        return None
    return parts.hostname.rstrip(".") or None


def _host(value: object) -> str | None:
    """The host named by a bare host name or a URL."""
    return _hostname(_split_url(value))


def _key_from_link(parts: SplitResult | None) -> str | None:
    """The issue key at the end of a ``.../browse/KEY`` path."""
    if parts is None:
        return None
    match = _KEY_AT_PATH_END.search(parts.path)
    return match.group(1).upper() if match else None


def _issue_id(value: object) -> str | None:
    """A Jira issue id as a canonical digit string, or ``None`` when it is not one."""
    if isinstance(value, str) and _ISSUE_ID.fullmatch(value.strip()):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        return None
    return str(number) if number > 0 else None
