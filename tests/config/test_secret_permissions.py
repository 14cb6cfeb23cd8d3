"""Secret file permissions: the kubelet's fsGroup mount (0440, the process's own group) is quiet;
a file others, or a group the process is not in, can read still warns."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from exporter.config import parse_config
from exporter.config.accounts import loose_permissions, own_groups
from tests.helpers import write_key_file

API_KEY = "permissions-api-key-0123"
API_SECRET = "permissions-api-secret-0123"


def warnings_for(secret: Path) -> tuple[str, ...]:
    raw = {"accounts": [{"name": "main", "api_key": API_KEY, "api_secret_file": str(secret)}]}
    return parse_config(raw, {}).warnings


def foreign_gid() -> int:
    """A group this process is not in."""
    return max(own_groups()) + 4242


def test_a_secret_mounted_with_fsgroup_does_not_warn(tmp_path):
    # What the kubelet makes of a Secret volume with fsGroup: 0440, group the pod's fsGroup.
    secret = write_key_file(tmp_path / "secret", API_SECRET, mode=0o440)
    os.chown(secret, -1, os.getgid())
    assert warnings_for(secret) == ()


def test_a_secret_readable_by_a_supplementary_group_of_the_process_does_not_warn(tmp_path):
    secret = write_key_file(tmp_path / "secret", API_SECRET, mode=0o440)
    os.chown(secret, -1, sorted(own_groups())[-1])
    assert warnings_for(secret) == ()


def test_a_secret_readable_by_another_group_warns(tmp_path):
    secret = write_key_file(tmp_path / "secret", API_SECRET, mode=0o440)
    gid = foreign_gid()
    try:
        os.chown(secret, -1, gid)
    except PermissionError:  # not root: judge the real file as if its group were not ours
        found = os.stat(secret)
        assert loose_permissions(found.st_mode, found.st_gid, frozenset()) == (
            f"group {found.st_gid}, not one of the exporter's"
        )
        return
    assert warnings_for(secret) == (
        f"secret file {secret} (accounts[0].api_secret_file) is accessible by group {gid}, not "
        "one of the exporter's (mode 0440); chmod 600 it",
    )


def test_a_world_readable_secret_warns_whatever_its_group(tmp_path):
    secret = write_key_file(tmp_path / "secret", API_SECRET, mode=0o444)
    os.chown(secret, -1, os.getgid())
    assert warnings_for(secret) == (
        f"secret file {secret} (accounts[0].api_secret_file) is accessible by others "
        "(mode 0444); chmod 600 it",
    )


def test_who_can_reach_a_file_by_mode_and_group():
    own = frozenset({1000, 2000})
    assert loose_permissions(stat.S_IFREG | 0o600, 3000, own) is None
    assert loose_permissions(stat.S_IFREG | 0o440, 2000, own) is None
    assert (
        loose_permissions(stat.S_IFREG | 0o640, 3000, own)
        == "group 3000, not one of the exporter's"
    )
    assert loose_permissions(stat.S_IFREG | 0o604, 1000, own) == "others"
    assert loose_permissions(stat.S_IFREG | 0o401, 1000, own) == "others"
