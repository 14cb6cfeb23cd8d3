"""Fixtures for the mixin's tests: the Prometheus binaries and the repository's paths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def required_binary(name: str) -> str:
    """A binary of Debian's prometheus package: CI must have it (fail), elsewhere skip."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required under CI=true (Debian package 'prometheus')")
    pytest.skip(f"{name} not installed (apt-get install prometheus)")


@pytest.fixture(scope="session")
def promtool() -> str:
    return required_binary("promtool")


@pytest.fixture(scope="session")
def prometheus() -> str:
    return required_binary("prometheus")
