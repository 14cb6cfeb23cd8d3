"""Passwords in URLs: every place a URL is printed shows ``user:<secret>@`` instead; an API key
Binance echoes in an error message is shown as ``<secret>`` wherever that message goes."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.config import ConfigError, parse_config
from exporter.redaction import redact_url
from exporter.simulator.endpoints import UM_ACCOUNT
from exporter.simulator.stream import LISTEN_KEY_PATH
from tests.e2e.process import listening_port, run_exporter, start_exporter, write_config
from tests.helpers import ONEWAY_KEY, ONEWAY_SECRET, wait_for_line

PASSWORD = "hunter2-S3cr3tPw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://papi.binance.com", "https://papi.binance.com"),
        (
            f"https://user:{PASSWORD}@proxy:8443/papi?x=1#f",
            "https://user:<secret>@proxy:8443/papi?x=1#f",
        ),
        (f"https://{PASSWORD}@proxy/papi", "https://<secret>@proxy/papi"),
        (f"https://user:{PASSWORD}@@proxy/", "https://user:<secret>@proxy/"),
        ("https://user:pass/word@proxy/papi", "https://user:<secret>@proxy/papi"),
        (f"user:{PASSWORD}@proxy/papi", "user:<secret>@proxy/papi"),
        (f"https://user:{PASSWORD}@[proxy", "https://user:<secret>@[proxy"),
        ("https://[papi.binance.com", "https://[papi.binance.com"),
        (
            "wss://fstream.binance.com/market/ws/!markPrice@arr@1s",
            "wss://fstream.binance.com/market/ws/!markPrice@arr@1s",
        ),
        (
            f"wss://user:{PASSWORD}@proxy/ws/!markPrice@arr@1s",
            "wss://user:<secret>@proxy/ws/!markPrice@arr@1s",
        ),
        ("wss://user:pass/!word@proxy", "wss://user:<secret>@proxy"),
    ],
    ids=[
        "no user info",
        "user and password",
        "user alone (a token)",
        "@ in the password",
        "unencoded / in the password",
        "no scheme",
        "malformed host",
        "malformed, no user info",
        "a stream name's @ in the path",
        "a stream name and a password",
        "unencoded /! in the password",
    ],
)
def test_redact_url_hides_the_user_info_secret(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_config_repr_and_summary_hide_url_passwords() -> None:
    config = parse_config(
        {
            "base_url": f"https://user:{PASSWORD}@papi.example.test",
            "time_url": f"https://user:{PASSWORD}@fapi.example.test/fapi/v1/time",
            "accounts": [{"name": "main", "api_key": ONEWAY_KEY, "api_secret": ONEWAY_SECRET}],
        },
        {},
    )

    assert PASSWORD not in repr(config) + config.summary()
    assert "base_url='https://user:<secret>@papi.example.test'" in repr(config)
    assert "time_url='https://user:<secret>@fapi.example.test/fapi/v1/time'" in repr(config)
    assert config.summary().startswith("base_url: https://user:<secret>@papi.example.test\n")


def test_a_url_that_is_not_a_string_is_not_echoed() -> None:
    raw = {"base_url": [f"https://user:{PASSWORD}@papi.example.test"], "accounts": []}

    with pytest.raises(ConfigError) as caught:
        parse_config(raw, {})

    assert str(caught.value) == "base_url: must be a URL string, not a list"


def test_a_url_with_a_port_that_is_not_a_number_is_refused() -> None:
    # An unencoded "/" ends the authority early: httpx would read "pass" as the port.
    raw = {"base_url": "https://user:pass/word@papi.example.test", "accounts": []}

    with pytest.raises(ConfigError) as caught:
        parse_config(raw, {})

    assert str(caught.value) == (
        "base_url: 'https://user:<secret>@papi.example.test' is not an http(s) URL"
    )


def config_text(base_url: str, time_url: str) -> str:
    return yaml.safe_dump(
        {
            "base_url": base_url,
            "time_url": time_url,
            "poll_interval_seconds": 1,
            "max_weight_per_minute": 6000,
            "collectors": ["um_account"],
            "accounts": [{"name": "oneway", "api_key": ONEWAY_KEY, "api_secret": ONEWAY_SECRET}],
        }
    )


def test_config_check_shows_base_url_without_its_password(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        config_text(
            f"https://user:{PASSWORD}@papi.example.test",
            f"https://user:{PASSWORD}@fapi.example.test/fapi/v1/time",
        ),
    )

    run = run_exporter("--config.file", str(path), "--config.check")

    assert run.returncode == 0, run.stderr
    assert "base_url: https://user:<secret>@papi.example.test\n" in run.stdout
    assert PASSWORD not in run.stdout + run.stderr


def test_refused_base_url_is_echoed_without_its_password(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        config_text(
            f"ftp://user:{PASSWORD}@papi.example.test",
            f"https://user:{PASSWORD}@fapi.example.test/fapi/v1/time",
        ),
    )

    run = run_exporter("--config.file", str(path))

    assert run.returncode == 2
    assert len(run.stderr_lines()) == 1, run.stderr
    assert (
        "error=\"base_url: 'ftp://user:<secret>@papi.example.test' is not an http(s) URL\""
        in run.stderr
    )
    assert PASSWORD not in run.stdout + run.stderr


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_clock_sync_warning_shows_the_time_url_without_its_password(sim, tmp_path: Path) -> None:
    time_url = f"http://user:{PASSWORD}@127.0.0.1:{closed_port()}/fapi/v1/time"
    base_url = sim.base_url.replace("//", f"//user:{PASSWORD}@")
    path = tmp_path / "config.yaml"
    path.write_text(config_text(base_url, time_url))
    proc = start_exporter(path)
    lines: list[str] = []
    try:
        warning = wait_for_line(proc, lines, "clock sync failed")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "url=http://user:<secret>@127.0.0.1:" in warning
    assert PASSWORD not in "".join(lines) + out + err


def test_refused_reload_hides_the_url_password_in_its_reply_and_log(sim, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_text(sim.base_url, sim.time_url))
    proc = start_exporter(path, "--web.enable-lifecycle")
    lines: list[str] = []
    try:
        port = listening_port(proc, lines)
        path.write_text(config_text(f"ftp://user:{PASSWORD}@papi.example.test", sim.time_url))
        reply = httpx.post(f"http://127.0.0.1:{port}/-/reload", timeout=10)
        logged = wait_for_line(proc, lines, "configuration reload refused")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    refusal = "base_url: 'ftp://user:<secret>@papi.example.test' is not an http(s) URL"
    assert (reply.status_code, reply.text) == (500, f"reload refused: {refusal}\n")
    assert f'error="{refusal}"' in logged
    assert PASSWORD not in "".join(lines) + out + err


# How Binance might quote the key: whole, in another case, cut short inside other text.
ECHOES = {
    UM_ACCOUNT: (
        -2014,
        f"API-key format invalid. Received X-MBX-APIKEY: {ONEWAY_KEY}; as sent: "
        f"{ONEWAY_KEY.upper()}",
    ),
    LISTEN_KEY_PATH: (
        -2015,
        f"Invalid API-key, IP, or permissions for action, key={ONEWAY_KEY[:12]}",
    ),
}


def test_an_api_key_binance_echoes_in_its_error_is_never_shown(sim, tmp_path: Path) -> None:
    for path, (code, msg) in ECHOES.items():
        sim.set_fault("oneway", path, status=400, code=code, msg=msg)
    config = yaml.safe_load(config_text(sim.base_url, sim.time_url))
    config["accounts"][0]["user_data_stream"] = True
    config["stream_url"] = sim.simulator.stream_url
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = start_exporter(path, "--web.enable-lifecycle", "--log.level=debug")
    lines: list[str] = []
    try:
        port = listening_port(proc, lines)
        logged = {}
        for event in ('event="API key refused', 'event="listen key refused"'):
            seen = [line for line in lines if event in line]
            logged[event] = seen[0] if seen else wait_for_line(proc, lines, event)
        polled, posted = logged.values()
        shown = [
            httpx.get(f"http://127.0.0.1:{port}{page}", timeout=5).text
            for page in ("/metrics", "/")
        ]
        reloaded = httpx.post(f"http://127.0.0.1:{port}/-/reload", timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "API-key format invalid. Received X-MBX-APIKEY: <secret>; as sent: <secret>" in polled
    assert "permissions for action, key=<secret>" in posted
    assert "API-key format invalid. Received X-MBX-APIKEY: &lt;secret&gt;" in shown[1]
    assert reloaded.status_code == 200
    everything = "".join(lines) + out + err + "".join(shown) + reloaded.text
    for piece in (ONEWAY_KEY, ONEWAY_KEY[:12], ONEWAY_KEY[-8:]):
        assert piece.lower() not in everything.lower()
