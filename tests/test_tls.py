"""Both hooks check the server's certificate unless the connection's extra turns it off.

Every h2j request carries a token, so talking to an unverified server would hand it to
whoever answers. The hooks inherit HttpHook's handling: extra ``verify`` (or
``verify_ssl``) becomes ``session.verify`` and reaches ``session.send``; ``true`` or a CA
bundle path keeps checking on, ``false`` turns it off, and without the extra it is on.

The server here is a real HTTPS server on loopback whose certificate comes from a CA made
for the test, which the system trust store does not know: a verifying client must refuse
it, a client given that CA's file must accept it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from urllib3.exceptions import InsecureRequestWarning

from h2j.errors import ApiError
from h2j.harvest_hook import HarvestHook
from h2j.jira_hook import JiraHook
from h2j.retry import RateLimiter, RetryPolicy

ANSWERS = {
    "/v2/users": {"users": [], "links": {"next": None}},
    "/rest/api/3/myself": {"accountId": "5b10ac8d82e05b22cc7d4ef5"},
}


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _certificate(subject: str, key, issuer: str, signer, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


def write_pki(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 it signed: (ca, cert, key) files."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("h2j test CA", ca_key, "h2j test CA", ca_key, ca=True)
    server_cert = _certificate("127.0.0.1", server_key, "h2j test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca_cert.public_bytes(pem))
    paths[1].write_bytes(server_cert.public_bytes(pem))
    paths[2].write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@dataclass
class TlsSite:
    port: int
    ca_file: Path
    paths_served: list[str] = field(default_factory=list)


def _handler(site: TlsSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            site.paths_served.append(path)
            body = json.dumps(ANSWERS.get(path, {})).encode()
            self.send_response(200 if path in ANSWERS else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads ``paths_served`` instead."""

    return Handler


@pytest.fixture
def tls_site(tmp_path, monkeypatch) -> Iterator[TlsSite]:
    """An HTTPS server on loopback with a certificate no system trust store knows."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    ca_file, cert_file, key_file = write_pki(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    site = TlsSite(port=0, ca_file=ca_file)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _connect(monkeypatch, site: TlsSite, extra: dict[str, Any], schema: str | None) -> None:
    """Point both hooks' default connections at ``site`` with ``extra`` added."""
    base = {"conn_type": "http", "host": "127.0.0.1", "port": site.port}
    if schema:
        base["schema"] = schema
    harvest = base | {
        "password": "tls-test-token",
        "extra": {"account_id": "42", "user_agent": "tls@example.com", **extra},
    }
    jira = base | {
        "login": "bot@example.com",
        "password": "tls-test-token",
        "extra": {"api_version": "3", **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_DEFAULT", json.dumps(harvest))
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_DEFAULT", json.dumps(jira))


def _quick() -> RetryPolicy:
    return RetryPolicy(connect_timeout=5, read_timeout=5, sleep=lambda seconds: None)


def call_harvest() -> tuple[HarvestHook, Any]:
    hook = HarvestHook(retry_policy=_quick(), rate_limiter=RateLimiter())
    return hook, list(hook.iter_users())


def call_jira() -> tuple[JiraHook, Any]:
    hook = JiraHook(retry_policy=_quick())
    return hook, hook.myself()


CALLS = pytest.mark.parametrize("call", [call_harvest, call_jira], ids=["harvest", "jira"])


@CALLS
@pytest.mark.parametrize("schema", ["https", None], ids=["https", "no-schema"])
def test_unknown_certificate_is_refused_by_default(tls_site, monkeypatch, call, schema):
    _connect(monkeypatch, tls_site, {}, schema)

    with pytest.raises(ApiError, match="SSLError") as refused:
        call()

    assert refused.value.status is None
    assert tls_site.paths_served == [], "the request went out over an unverified channel"


@pytest.mark.parametrize("hook_class", [HarvestHook, JiraHook])
def test_session_verifies_when_the_extra_is_absent(tls_site, monkeypatch, hook_class):
    _connect(monkeypatch, tls_site, {}, "https")

    assert hook_class().session.verify is True


@CALLS
@pytest.mark.parametrize("key", ["verify", "verify_ssl"])
def test_ca_bundle_in_extra_is_used_to_verify(tls_site, monkeypatch, call, key):
    _connect(monkeypatch, tls_site, {key: str(tls_site.ca_file)}, "https")

    hook, answer = call()

    assert hook.session.verify == str(tls_site.ca_file)
    assert answer in ([], ANSWERS["/rest/api/3/myself"])
    assert len(tls_site.paths_served) == 1
    assert "verify" not in hook.session.headers
    assert "verify_ssl" not in hook.session.headers


@CALLS
def test_only_verify_false_in_extra_turns_checking_off(tls_site, monkeypatch, call):
    _connect(monkeypatch, tls_site, {"verify": False}, "https")

    with pytest.warns(InsecureRequestWarning):
        hook, _ = call()

    assert hook.session.verify is False
    assert len(tls_site.paths_served) == 1
