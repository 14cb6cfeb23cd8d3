"""--web.config.file over real sockets: TLS, client certificates, basic auth, headers, reload."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme
from structlog.testing import capture_logs

from exporter.simulator.server import SimulatorThread
from exporter.web import WebSecurity, load_web_config
from tests.helpers import ExporterThread, make_config, wait_for

POLL = 0.1  # the web config watcher's interval in these tests


def htpasswd(password: str) -> str:
    """What `htpasswd -nBC 4 user` prints after the colon (Apache's $2y$ prefix)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return "$2y$" + hashed[4:]


def write_server_cert(ca: trustme.CA, directory: Path) -> None:
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    leaf.private_key_pem.write_to_path(str(directory / "server.key"))
    for i, pem in enumerate(leaf.cert_chain_pems):
        pem.write_to_path(str(directory / "server.crt"), append=i > 0)


def client_context(
    ca: trustme.CA, cert: trustme.LeafCert | None = None, **versions: ssl.TLSVersion
) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if cert is not None:
        cert.configure_cert(ctx)
    for name, version in versions.items():
        setattr(ctx, name, version)
    return ctx


TLS = """
tls_server_config:
  cert_file: server.crt
  key_file: server.key
"""


class Served:
    def __init__(self, exp: ExporterThread, path: Path) -> None:
        self.exp = exp
        self.path = path

    @property
    def security(self) -> WebSecurity:
        security = self.exp.exporter.web_security
        assert security is not None
        return security

    @property
    def url(self) -> str:
        scheme = "https" if self.security.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.exp.exporter.port}"

    def get(self, path: str = "/metrics", **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def ca(tmp_path: Path) -> trustme.CA:
    authority = trustme.CA()
    write_server_cert(authority, tmp_path)
    return authority


@pytest.fixture
def serve(
    sim: SimulatorThread, accounts: list[dict], tmp_path: Path
) -> Iterator[Callable[[str], Served]]:
    """Start the exporter with the given web config text (file paths relative to tmp_path)."""
    with ExitStack() as stack:

        def start(text: str) -> Served:
            path = tmp_path / "web.yml"
            path.write_text(text, encoding="utf-8")
            security = WebSecurity(load_web_config(path), poll_seconds=POLL)
            config = make_config(sim.base_url, accounts)
            exp = stack.enter_context(ExporterThread(config, web_security=security))
            return Served(exp, path)

        yield start


# -- TLS ----------------------------------------------------------------------------------------


def test_https_scrape_with_trusted_ca(serve: Callable[[str], Served], ca: trustme.CA) -> None:
    served = serve(TLS)
    reply = served.get(verify=client_context(ca))
    assert reply.status_code == 200
    assert "binance_pm_exporter_build_info" in reply.text


def test_plain_http_to_tls_port_fails(serve: Callable[[str], Served], ca: trustme.CA) -> None:
    served = serve(TLS)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{served.exp.exporter.port}/metrics", timeout=5)


def test_tls11_is_refused_by_default(serve: Callable[[str], Served], ca: trustme.CA) -> None:
    served = serve(TLS)
    server_ctx = served.security.ssl_context
    assert server_ctx is not None
    assert server_ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    tls11 = _tls11_client(ca)
    _prove_client_speaks_tls11(tls11, ca)
    address = ("127.0.0.1", served.exp.exporter.port)
    with pytest.raises(ssl.SSLError), socket.create_connection(address, 5) as raw:
        tls11.wrap_socket(raw, server_hostname="127.0.0.1")


def _tls11_client(ca: trustme.CA) -> ssl.SSLContext:
    ctx = client_context(ca)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 forbids TLS 1.1 at level 1 and above
    with pytest.warns(DeprecationWarning):
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    with pytest.warns(DeprecationWarning):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


def _prove_client_speaks_tls11(client: ssl.SSLContext, ca: trustme.CA) -> None:
    """The refusal must come from the exporter's minimum, not from a client unable to try."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.warns(DeprecationWarning):
        server.minimum_version = ssl.TLSVersion.TLSv1_1
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        conn, _ = listener.accept()
        try:
            server.wrap_socket(conn, server_side=True).close()
        except ssl.SSLError:
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), 5) as raw:
            try:
                tls = client.wrap_socket(raw, server_hostname="127.0.0.1")
            except ssl.SSLError as exc:
                pytest.skip(f"this OpenSSL cannot do TLS 1.1 at all: {exc}")
            assert tls.version() == "TLSv1.1"
            tls.close()
    finally:
        thread.join(5)
        listener.close()


def test_rotated_certificate_is_served_to_new_connections(
    serve: Callable[[str], Served], ca: trustme.CA, tmp_path: Path
) -> None:
    served = serve(TLS)
    assert served.get(verify=client_context(ca)).status_code == 200
    new_ca = trustme.CA()
    write_server_cert(new_ca, tmp_path)
    wait_for(lambda: _ok(served, client_context(new_ca)))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        served.get(verify=client_context(ca))


def _ok(served: Served, ctx: ssl.SSLContext, **kwargs: object) -> bool:
    try:
        return served.get(verify=ctx, **kwargs).status_code == 200
    except httpx.TransportError:
        return False


# -- client certificates ------------------------------------------------------------------------

MTLS = (
    TLS
    + """
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: clients.crt
"""
)


@pytest.fixture
def client_ca(tmp_path: Path) -> trustme.CA:
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "clients.crt"))
    return authority


def test_client_without_certificate_cannot_connect(
    serve: Callable[[str], Served], ca: trustme.CA, client_ca: trustme.CA
) -> None:
    served = serve(MTLS)
    with pytest.raises(httpx.TransportError):
        served.get(verify=client_context(ca))


def test_client_certificate_from_the_client_ca_can_connect(
    serve: Callable[[str], Served], ca: trustme.CA, client_ca: trustme.CA
) -> None:
    served = serve(MTLS)
    cert = client_ca.issue_cert("scraper@example.com")
    assert served.get(verify=client_context(ca, cert)).status_code == 200


def test_client_certificate_from_another_ca_cannot_connect(
    serve: Callable[[str], Served], ca: trustme.CA, client_ca: trustme.CA
) -> None:
    served = serve(MTLS)
    stranger = trustme.CA().issue_cert("scraper@example.com")
    with pytest.raises(httpx.TransportError):
        served.get(verify=client_context(ca, stranger))


def test_client_certificate_without_an_allowed_san_is_forbidden(
    serve: Callable[[str], Served], ca: trustme.CA, client_ca: trustme.CA
) -> None:
    served = serve(MTLS + "  client_allowed_sans: [prometheus.example.com]\n")
    allowed = client_ca.issue_cert("prometheus.example.com")
    other = client_ca.issue_cert("grafana.example.com")
    assert served.get(verify=client_context(ca, allowed)).status_code == 200
    assert served.get(verify=client_context(ca, other)).status_code == 403


# -- basic auth ---------------------------------------------------------------------------------


def users(**passwords: str) -> str:
    lines = [f"  {user}: {htpasswd(pw)}" for user, pw in passwords.items()]
    return "basic_auth_users:\n" + "\n".join(lines) + "\n"


@pytest.fixture
def with_auth(serve: Callable[[str], Served], ca: trustme.CA) -> tuple[Served, ssl.SSLContext]:
    return serve(TLS + users(alice="wonderland")), client_context(ca)


def test_right_password_is_let_in(with_auth: tuple[Served, ssl.SSLContext]) -> None:
    served, ctx = with_auth
    assert served.get(verify=ctx, auth=("alice", "wonderland")).status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [("alice", "looking-glass"), ("mallory", "wonderland"), None],
    ids=["wrong password", "unknown user", "no credentials"],
)
def test_bad_login_gets_401_with_the_toolkits_challenge(
    with_auth: tuple[Served, ssl.SSLContext], credentials: tuple[str, str] | None
) -> None:
    served, ctx = with_auth
    for path in ("/metrics", "/", "/readyz"):
        reply = served.get(path, verify=ctx, auth=credentials)
        assert reply.status_code == 401
        assert reply.headers["WWW-Authenticate"] == "Basic"
    assert served.get("/-/reload", verify=ctx).status_code == 401


def test_healthz_stays_open(with_auth: tuple[Served, ssl.SSLContext]) -> None:
    served, ctx = with_auth
    reply = served.get("/healthz", verify=ctx)
    assert reply.status_code == 200
    assert reply.text == "ok\n"


def test_verified_login_is_cached(with_auth: tuple[Served, ssl.SSLContext]) -> None:
    served, ctx = with_auth
    auth = served.security.auth
    assert auth is not None
    assert served.get(verify=ctx, auth=("alice", "wonderland")).status_code == 200
    assert auth.bcrypt_checks == 1
    assert served.get(verify=ctx, auth=("alice", "wonderland")).status_code == 200
    assert auth.bcrypt_checks == 1


def test_unknown_user_is_checked_against_a_dummy_hash(
    with_auth: tuple[Served, ssl.SSLContext],
) -> None:
    served, ctx = with_auth
    auth = served.security.auth
    assert auth is not None
    for expected in (1, 2):  # never cached: each attempt costs one bcrypt, like a known user's
        assert served.get(verify=ctx, auth=("mallory", "x")).status_code == 401
        assert auth.bcrypt_checks == expected


# -- headers and reload -------------------------------------------------------------------------

HEADERS = """
http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
"""


def test_configured_headers_are_on_every_response(
    serve: Callable[[str], Served], ca: trustme.CA
) -> None:
    served = serve(TLS + HEADERS + users(alice="wonderland"))
    ctx, login = client_context(ca), ("alice", "wonderland")
    replies = [
        served.get("/metrics", verify=ctx, auth=login),
        served.get("/healthz", verify=ctx),
        served.get("/metrics", verify=ctx),  # 401
        served.get("/nowhere", verify=ctx, auth=login),  # 404
    ]
    assert [r.status_code for r in replies] == [200, 200, 401, 404]
    for reply in replies:
        assert reply.headers["X-Frame-Options"] == "deny"
        assert reply.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_changed_users_apply_without_restart(
    serve: Callable[[str], Served], ca: trustme.CA
) -> None:
    served = serve(TLS + users(alice="first"))
    ctx = client_context(ca)
    assert served.get(verify=ctx, auth=("alice", "first")).status_code == 200
    served.path.write_text(TLS + users(alice="second"), encoding="utf-8")
    wait_for(lambda: _ok(served, ctx, auth=("alice", "second")))
    assert served.get(verify=ctx, auth=("alice", "first")).status_code == 401


def test_broken_web_config_keeps_the_previous_settings(
    serve: Callable[[str], Served], ca: trustme.CA
) -> None:
    served = serve(TLS + users(alice="first"))
    ctx = client_context(ca)
    with capture_logs() as logs:
        served.path.write_text(TLS + "basic_auth_users:\n  alice: plaintext\n", encoding="utf-8")
        wait_for(lambda: [e for e in logs if e["log_level"] == "error"])
    [error] = [e for e in logs if e["log_level"] == "error"]
    assert error["error"].startswith("basic_auth_users.alice: not a bcrypt hash")
    assert "plaintext" not in error["error"]
    assert served.get(verify=ctx, auth=("alice", "first")).status_code == 200
    assert served.get(verify=ctx).status_code == 401
