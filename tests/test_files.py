"""Bounded reads and the size limits as the messages say them."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.files import read_bounded, size_text


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
