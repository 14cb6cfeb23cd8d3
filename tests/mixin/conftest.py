"""Fixtures for the mixin's tests: the Prometheus binaries and the repository's paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import helpers
from tests.helpers import required_binary

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def promtool() -> str:
    return helpers.promtool()


@pytest.fixture(scope="session")
def prometheus() -> str:
    return required_binary("prometheus")
