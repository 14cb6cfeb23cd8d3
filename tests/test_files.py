"""Bounded reads and the size limits as the messages say them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from exporter.files import Load, read_bounded, read_yaml, reading, size_text
from exporter.validation import ConfigError


@pytest.mark.parametrize(
    ("limit", "text"),
    [(1024 * 1024, "1 MiB"), (64 * 1024, "64 KiB"), (1536, "1536 bytes"), (100, "100 bytes")],
)
def test_a_limit_is_said_in_the_largest_whole_unit(limit, text):
    assert size_text(limit) == text


def test_a_file_at_the_limit_is_read_whole(tmp_path: Path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 8)
    assert read_bounded(path, 8) == b"x" * 8


def test_a_file_over_the_limit_is_none_not_its_first_bytes(tmp_path: Path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 9)
    assert read_bounded(path, 8) is None


@pytest.mark.parametrize(
    ("text", "key_path", "where", "what"),
    [
        (
            "name: 2024-02-30\n",
            "name",
            "line 1, column 7",
            "a date from this value (day is out of range",
        ),
        (
            "a:\n  - {b: 2024-01-01 25:00:00}\n",
            "a[0].b",
            "line 2, column 9",
            "a date from this value (hour",
        ),
        ("x: !!int 1_2x\n", "x", "line 1, column 4", "an integer from this value;"),
        ("x: !!float nope\n", "x", "line 1, column 4", "a number from this value;"),
        ("x: !!timestamp nope\n", "x", "line 1, column 4", "a date from this value;"),
        (
            "? 2024-13-01\n: 1\n",
            "2024-13-01",
            "line 1, column 3",
            "a date from this value (month must be",
        ),
        (
            "[0, " + "1" * 4301 + "]\n",
            "[1]",
            "line 1, column 5",
            "an integer from this value (Exceeds the limit",
        ),
    ],
)
def test_a_value_yaml_cannot_build_is_one_error_at_its_key_path(
    tmp_path: Path, text: str, key_path: str, where: str, what: str
):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_yaml(path, "config file")
    assert caught.value.path == key_path
    message = str(caught.value)
    assert message.startswith(f"{key_path}: {path} at {where}: YAML cannot build {what}")
    assert message.endswith("; quote it if it is meant as a string")
    assert "\n" not in message and "Traceback" not in message


def test_a_float_too_large_is_infinity_for_the_getters_to_refuse(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("x: 1.0e+999999\n")
    assert read_yaml(path, "config file") == {"x": float("inf")}


def test_a_load_past_its_deadline_names_the_file_it_is_stuck_in(tmp_path: Path):
    release = threading.Event()

    def load() -> str:
        with reading("accounts[2].private_key_file", "secret file", tmp_path / "key.pem"):
            release.wait(5)
        return "done"

    pending = Load(load, "config file", tmp_path / "c.yaml")
    try:
        with pytest.raises(ConfigError) as caught:
            pending.wait(0.2)
    finally:
        release.set()
    assert str(caught.value) == (
        f"accounts[2].private_key_file: secret file {tmp_path / 'key.pem'} was not read within "
        "0.2 s (a FIFO, or a hung mount?)"
    )
    assert pending.future.result(5) == "done"


def test_a_load_stuck_before_any_secret_names_the_config_file(tmp_path: Path):
    release = threading.Event()
    pending = Load(lambda: release.wait(5), "config file", tmp_path / "c.yaml")
    try:
        with pytest.raises(ConfigError) as caught:
            pending.wait(0.2)
    finally:
        release.set()
    assert str(caught.value) == (
        f"config file {tmp_path / 'c.yaml'} was not read within 0.2 s (a FIFO, or a hung mount?)"
    )
