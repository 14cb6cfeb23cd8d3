"""Packaging: the lock matches pyproject.toml, the image installs from it, the licence is SPDX."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def locked() -> dict[str, str]:
    text = (REPO / "requirements.lock").read_text()
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.M)
    }


def test_every_runtime_dependency_is_locked_within_its_range():
    pins = locked()
    for spec in PYPROJECT["project"]["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock: run make lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside {req.specifier}: "
            "run make lock"
        )


def test_the_lock_pins_every_package_with_hashes():
    text = (REPO / "requirements.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for entry in entries:
        assert "==" in entry and "--hash=sha256:" in entry, entry[:80]


def test_the_image_installs_the_lock_with_hashes_and_nothing_else():
    dockerfile = (REPO / "Dockerfile").read_text()
    installs = re.findall(r"pip install[^\n]*", dockerfile)
    assert installs == [
        "pip install --no-cache-dir --require-hashes -r requirements.lock",
        "pip install --no-cache-dir --no-deps .",
    ]


def test_extras_do_not_repeat_a_package():
    seen: dict[str, str] = {}
    for extra, specs in PYPROJECT["project"]["optional-dependencies"].items():
        for spec in specs:
            name = canonicalize_name(Requirement(spec).name)
            if name == "binance-pm-exporter":
                continue  # another extra of this project, included by reference
            assert name not in seen, f"{name} is in both [{seen.get(name)}] and [{extra}]"
            seen[name] = extra


def test_building_the_wheel_prints_no_deprecation_warning(tmp_path):
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    output = build.stdout + build.stderr
    assert "Deprecat" not in output, output[-3000:]
    assert "SetuptoolsWarning" not in output
