"""Test helpers: run the exporter in a background thread and read its /metrics over loopback."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.config import Config, parse_config
from exporter.simulator.accounts import SimAccount, UMPosition

Key = tuple[str, frozenset[tuple[str, str]]]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey

REPO = Path(__file__).resolve().parents[1]


def make_config(base_url: str, accounts: list[dict], **overrides: Any) -> Config:
    raw: dict[str, Any] = {
        "base_url": base_url,
        "time_url": base_url + "/fapi/v1/time",
        "poll_interval_seconds": 1,
        "request_timeout_seconds": 2,
        "max_weight_per_minute": 6000,
        "accounts": accounts,
    }
    raw.update(overrides)
    return parse_config(raw, {})


class ExporterThread:
    """The real exporter (scheduler, client, HTTP server) on its own loop, on a free port."""

    def __init__(self, config: Config, **kwargs: Any) -> None:
        self.config = config
        self.exporter = Exporter(config, listen_address="127.0.0.1:0", **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> ExporterThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.exporter.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.exporter.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.exporter.port}"

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the exporter's loop (its state is only touched there)."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(5)

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        """Await ``coroutine`` on the exporter's loop, from the test's thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def stop_polling(self) -> None:
        """Stop every poll loop, so the store no longer changes."""
        assert self.exporter.scheduler is not None
        future = asyncio.run_coroutine_threadsafe(self.exporter.scheduler.stop(), self._loop)
        future.result(10)

    def text(self, path: str = "/metrics", **headers: str) -> str:
        """The reply's text; a text exposition is also checked by promtool (``lint_once``)."""
        reply = httpx.get(self.url + path, headers=headers, timeout=5)
        reply.raise_for_status()
        if reply.headers.get("content-type", "").startswith("text/plain; version=0.0.4"):
            lint_once(reply.text)
        return reply.text

    def samples(self) -> dict[Key, float]:
        return parse_samples(self.text())


def parse_samples(text: str) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def series(samples: dict[Key, float], name: str, **labels: str) -> dict[Key, float]:
    """Samples of one metric whose labels include ``labels``."""
    want = set(labels.items())
    return {k: v for k, v in samples.items() if k[0] == name and want <= k[1]}


def value(samples: dict[Key, float], name: str, **labels: str) -> float:
    found = [v for (n, lab), v in samples.items() if n == name and dict(lab) == labels]
    assert len(found) == 1, f"{name}{labels}: {len(found)} series"
    return found[0]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    """``condition()``'s first truthy value; it is last checked at the deadline, not before.

    Most conditions scrape and parse a whole exposition: checking every 0.1 s rather than more
    often keeps those parses from taking the CPU that parallel test workers share."""
    deadline = time.monotonic() + timeout
    while True:
        last = condition()
        if last:
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        time.sleep(min(interval, remaining))


def wait_for_line(
    proc: subprocess.Popen, lines: list[str], needle: str, timeout: float = 10.0
) -> str:
    """The next line of the process' stderr holding ``needle``; every line read goes to lines."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break  # the process has exited
        lines.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no log line with {needle!r}:\n" + "".join(lines))


def replace_with_fifo(path: Path) -> Path:
    """Make ``path`` a FIFO nobody writes: open() for reading blocks until a writer comes."""
    path.unlink()
    os.mkfifo(path)
    return path


def unblock(fifo: Path) -> None:
    """Be the writer a reader blocked in open() waits for: it then reads an empty file."""
    # O_NONBLOCK: fails (ENXIO) rather than waits when no reader is there.
    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def required_binary(name: str, package: str = "prometheus") -> str:
    """A binary of a Debian package (prometheus, prometheus-alertmanager): CI must have it
    (fail), elsewhere skip."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required under CI=true (Debian package '{package}')")
    pytest.skip(f"{name} not installed (apt-get install {package})")


def promtool() -> str:
    """The promtool binary, the one lookup every test uses."""
    return required_binary("promtool")


# --- signing keys: the one place tests make them ---------------------------------------------


@functools.cache
def signing_key(kind: Literal["rsa", "ed25519", "ec"]) -> PrivateKey:
    """One key of each kind per test process: RSA generation is slow and no test needs two."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(
    key: PrivateKey, encryption: serialization.KeySerializationEncryption | None = None
) -> bytes:
    """PKCS#8 PEM, the format Binance's key generator writes."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )


def public_pem(key: PrivateKey) -> bytes:
    """What is registered with Binance (and the simulator) for a key."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_key_file(path: Path, pem: bytes | str, mode: int = 0o600) -> Path:
    """A key or secret file, owner-only unless ``mode`` says otherwise (the loader warns then)."""
    path.write_bytes(pem if isinstance(pem, bytes) else pem.encode())
    path.chmod(mode)
    return path


_LABEL_NAME = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="')
_linted: set[frozenset[str]] = set()


def exposition_shape(text: str) -> frozenset[str]:
    """What promtool's linter judges: the HELP and TYPE lines, each series' name and label
    names (not the values, which change with every poll)."""
    shape = set()
    for line in text.splitlines():
        if line.startswith("#"):
            shape.add(line)
        elif line:
            name, _, rest = line.partition("{")
            labels = _LABEL_NAME.findall(rest.rpartition("}")[0]) if rest else []
            shape.add(name.split(" ", 1)[0] + "{" + ",".join(labels) + "}")
    return frozenset(shape)


def lint_once(text: str) -> None:
    """Assert that promtool check metrics finds nothing in a text exposition, once per shape.

    Every exposition an e2e test scrapes through ``ExporterThread.text`` passes here; where
    promtool is not installed (and not under CI) there is nothing to run.
    """
    if shutil.which("promtool") is None and os.environ.get("CI") != "true":
        return
    shape = exposition_shape(text)
    if shape in _linted:
        return
    findings = check_metrics(text)
    assert findings == "", f"promtool check metrics:\n{findings}"
    _linted.add(shape)


def check_metrics(text: str) -> str:
    """promtool check metrics' findings on an exposition ("" when it has none)."""
    check = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    findings = check.stdout + check.stderr
    if check.returncode not in (0, 3):  # 3: lint findings only, the exposition parsed
        findings += f"(exit {check.returncode})"
    return findings


# Nine levels of nine: ~387 million "lol"s once expanded (the classic "billion laughs").
ALIAS_BOMB = "\n".join(
    ["a: &a [" + ",".join(['"lol"'] * 9) + "]"]
    + [
        f"{b}: &{b} [" + ",".join([f"*{a}"] * 9) + "]"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


PROMETHEUS_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


PROMETHEUS_3 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)


ONEWAY_KEY = "oneway-api-key-0123456789"
ONEWAY_SECRET = "oneway-secret-abcdefghijklmnopqrstuvwxyz"
HEDGE_KEY = "hedge-api-key-0123456789"


def oneway_account() -> SimAccount:
    return SimAccount(
        name="oneway",
        api_key=ONEWAY_KEY,
        api_secret=ONEWAY_SECRET,
        mode="one_way",
        balances={"USDT": "25000", "BTC": "0.5", "BNB": "10"},
        um_positions=[
            UMPosition("BTCUSDT", "BOTH", "0.25", "60000", 10),
            UMPosition("ETHUSDT", "BOTH", "-3", "3000", 20),
            # An open order without a position: kept by the zero filter.
            UMPosition("SOLUSDT", "BOTH", "0", "0", 5, open_order_initial_margin="12.5"),
        ],
    )


def hedge_account(public_pem: bytes) -> SimAccount:
    return SimAccount(
        name="hedge",
        api_key=HEDGE_KEY,
        public_key_pem=public_pem,
        mode="hedge",
        balances={"USDT": "50000"},
        um_positions=[
            UMPosition("BTCUSDT", "LONG", "0.1", "61000", 20),
            UMPosition("BTCUSDT", "SHORT", "-0.05", "62000", 20),
            UMPosition("XRPUSDT", "LONG", "1000", "0.5", 10),
        ],
    )


def shard_raw_config(accounts: list[dict], **extra) -> dict:
    """A config of ``accounts`` for the sharding tests: one collector, a small budget."""
    return {
        "base_url": "http://127.0.0.1:9",
        "collectors": ["um_account"],
        "max_weight_per_minute": 100,
        "poll_interval_seconds": 15,
        "accounts": accounts,
        **extra,
    }


def desk(name: str, **extra) -> dict:
    """An HMAC account entry named ``name`` (its key and secret made from the name)."""
    return {"name": name, "api_key": f"key-{name}", "api_secret": f"secret-{name}", **extra}


def two_desks_config(**top: Any) -> Config:
    """The config of desks ``a`` and ``b`` with these top-level keys (parse errors raise)."""
    return parse_config({"accounts": [desk("a"), desk("b")], **top}, {})


DESKS = [desk(f"desk{i}") for i in range(1, 5)]  # shards of 3: desk1 1, desk2 0, desk3 2, desk4 1


WEB_TLS = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
