"""The command line on config mistakes: exit 2, one log line, no traceback, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from exporter import __version__
from tests.e2e.process import Run, run_exporter, write_config
from tests.helpers import ALIAS_BOMB, REPO, WEB_TLS, write_key_file

API_KEY = "APIKEY-CLI-R5T8Y2U4-must-not-leak"
API_SECRET = "SECRET-CLI-H3G7F1D9-must-not-leak"


@dataclass(frozen=True)
class Mistake:
    config: str
    env: dict[str, str]
    must_name: tuple[str, ...]  # key path and value at fault


# {dir} is replaced with the case's own directory.
MISTAKES = {
    "unreadable secret file": Mistake(
        config=f"""
accounts:
  - name: main
    api_key: {API_KEY}
    api_secret: {API_SECRET}
  - name: desk2
    api_key: {API_KEY}
    api_secret_file: {{dir}}/desk2_secret
""",
        env={},
        must_name=("accounts[1].api_secret_file", "{dir}/desk2_secret"),
    ),
    "unset env variable": Mistake(
        config="""
accounts:
  - name: main
    api_key: ${BINANCE_API_KEY}
    api_secret: ${BINANCE_API_SECRET}
""",
        env={"BINANCE_API_KEY": API_KEY},
        must_name=("accounts[0].api_secret", "BINANCE_API_SECRET"),
    ),
    "duplicate account name": Mistake(
        config=f"""
accounts:
  - name: desk
    api_key: {API_KEY}
    api_secret: {API_SECRET}
  - name: desk
    api_key: {API_KEY}
    api_secret: {API_SECRET}
""",
        env={},
        must_name=("accounts[1].name", "duplicate account name 'desk'"),
    ),
    "bad YAML": Mistake(
        config=f"""
accounts:
  - name: main
    api_key: {API_KEY}
    api_secret: [{API_SECRET}
""",
        env={},
        must_name=("{dir}/config.yaml", "bad YAML"),
    ),
    "unknown key": Mistake(
        config=f"""
poll_intervall_seconds: 15
accounts:
  - name: main
    api_key: {API_KEY}
    api_secret: {API_SECRET}
""",
        env={},
        must_name=("poll_intervall_seconds", "unknown key"),
    ),
    # Once took 68 s and 2.4 GB before it was refused.
    "alias bomb": Mistake(
        config=ALIAS_BOMB
        + f"\naccounts: [{{name: main, api_key: {API_KEY}, api_secret: {API_SECRET}}}]\n",
        env={},
        must_name=("{dir}/config.yaml", "line 1, column 4", "anchors and aliases are not allowed"),
    ),
    # Once took 88 s and 1.9 GB.
    "10 MB config": Mistake(
        config=f"accounts: [{{name: main, api_key: {API_KEY}, api_secret: {API_SECRET}}}]\n"
        + "# padding\n" * 1_000_000,
        env={},
        must_name=("config file {dir}/config.yaml is larger than 1 MiB",),
    ),
    # Once a MemoryError traceback, exit 1.
    "endless secret file": Mistake(
        config=f"""
accounts:
  - name: main
    api_key: {API_KEY}
    api_secret_file: /dev/zero
""",
        env={},
        must_name=("accounts[0].api_secret_file: /dev/zero is larger than 64 KiB",),
    ),
    # PyYAML matches these as a date and an integer, then cannot build them: once a 48-line
    # traceback and exit 1.
    "impossible date": Mistake(
        config=f"""
accounts:
  - name: 2024-02-30
    api_key: {API_KEY}
    api_secret: {API_SECRET}
""",
        env={},
        must_name=(
            "accounts[0].name: {dir}/config.yaml at line 3, column 11: YAML cannot build a date",
            "day is out of range for month",
            "quote it",
        ),
    ),
    "integer of 5,000 digits": Mistake(
        config=f"""
poll_interval_seconds: {"9" * 5000}
accounts:
  - name: main
    api_key: {API_KEY}
    api_secret: {API_SECRET}
""",
        env={},
        must_name=(
            "poll_interval_seconds: {dir}/config.yaml at line 2, column 24: YAML cannot build "
            "an integer",
            "(4300 digits)",
        ),
    ),
    # The constructor's own text quotes the value, lowercased (KeyError): left out, a key.
    "secret YAML cannot build": Mistake(
        config=f"""
accounts:
  - name: main
    api_key: !!bool {API_KEY}
    api_secret: {API_SECRET}
""",
        env={},
        must_name=(
            "accounts[0].api_key: {dir}/config.yaml at line 4, column 14: YAML cannot build a "
            "boolean from this value; quote it",
        ),
    ),
}


@pytest.fixture(scope="module", params=list(MISTAKES), ids=list(MISTAKES))
def mistake_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Run, tuple[str, ...]]:
    """Each mistake runs the exporter once; the tests below read the same run."""
    mistake = MISTAKES[request.param]
    directory = tmp_path_factory.mktemp("mistake")
    path = write_config(directory, mistake.config.replace("{dir}", str(directory)))
    run = run_exporter("--config.file", str(path), env=mistake.env)
    return run, tuple(s.replace("{dir}", str(directory)) for s in mistake.must_name)


def test_config_mistake_exits_2(mistake_run: tuple[Run, tuple[str, ...]]) -> None:
    run, _ = mistake_run

    assert run.returncode == 2


def test_config_mistake_logs_exactly_one_line(mistake_run: tuple[Run, tuple[str, ...]]) -> None:
    run, _ = mistake_run

    assert len(run.stderr_lines()) == 1, run.stderr


def test_config_mistake_has_no_traceback(mistake_run: tuple[Run, tuple[str, ...]]) -> None:
    run, _ = mistake_run

    assert "Traceback" not in run.stderr


def test_config_mistake_line_names_key_path_and_value(
    mistake_run: tuple[Run, tuple[str, ...]],
) -> None:
    run, must_name = mistake_run

    for fragment in must_name:
        assert fragment in run.stderr


def test_config_mistake_line_hides_secret_and_api_key(
    mistake_run: tuple[Run, tuple[str, ...]],
) -> None:
    run, _ = mistake_run
    output = (run.stderr + run.stdout).lower()  # a YAML constructor may lowercase what it quotes

    assert API_SECRET.lower() not in output
    assert API_KEY.lower() not in output


@pytest.fixture(scope="module")
def check_run(tmp_path_factory: pytest.TempPathFactory, ed25519_pem: str) -> Run:
    directory = tmp_path_factory.mktemp("check")
    pem = write_key_file(directory / "desk2.pem", ed25519_pem)
    path = write_config(
        directory,
        f"""
accounts:
  - name: main
    api_key: ${{BINANCE_API_KEY}}
    api_secret: ${{BINANCE_API_SECRET}}
  - name: desk2
    api_key: {API_KEY}
    private_key_file: {pem}
""",
    )
    env = {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET}
    return run_exporter("--config.file", str(path), "--config.check", env=env)


def test_config_check_on_a_valid_config_exits_0(check_run: Run) -> None:
    assert check_run.returncode == 0, check_run.stderr


def test_config_check_prints_the_account_names(check_run: Run) -> None:
    assert "is valid" in check_run.stdout
    assert "  - main: hmac" in check_run.stdout
    assert "  - desk2: private key" in check_run.stdout


def test_config_check_never_prints_secrets(check_run: Run, ed25519_pem: str) -> None:
    output = check_run.stdout + check_run.stderr

    assert API_SECRET not in output
    assert API_KEY not in output
    assert ed25519_pem.splitlines()[1] not in output


@pytest.mark.parametrize("flag", ["--config.file", "--web.config.file"])
def test_a_config_that_blocks_on_read_at_start_up_exits_2_after_the_time_limit(
    tmp_path: Path, flag: str
) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)  # nobody writes: open() for reading blocks for good
    what = "config file" if flag == "--config.file" else "web config file"

    # The time limit is 10 s; lowered here to keep the test quick.
    run = run_exporter(flag, str(fifo), "--config.check", load_timeout=0.5)

    assert run.returncode == 2
    assert len(run.stderr_lines()) == 1, run.stderr
    assert f"{what} {fifo} was not read within 0.5 s (a FIFO, or a hung mount?)" in run.stderr


def test_a_secret_file_that_blocks_on_read_is_named_when_the_time_limit_ends(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "desk2_secret"
    os.mkfifo(fifo)  # nobody writes: the read of the secret blocks for good
    path = write_config(
        tmp_path,
        f"""
accounts:
  - name: main
    api_key: {API_KEY}
    api_secret: {API_SECRET}
  - name: desk2
    api_key: {API_KEY}
    api_secret_file: {fifo}
""",
    )

    run = run_exporter("--config.file", str(path), "--config.check", load_timeout=0.5)

    assert run.returncode == 2
    assert len(run.stderr_lines()) == 1, run.stderr
    assert (
        f'error="accounts[1].api_secret_file: secret file {fifo} was not read within 0.5 s '
        '(a FIFO, or a hung mount?)"'
    ) in run.stderr
    assert API_KEY not in run.stderr and API_SECRET not in run.stderr


def test_version_prints_the_version_and_exits_0() -> None:
    run = run_exporter("--version")

    assert run.returncode == 0
    assert run.stdout.strip() == f"binance-pm-exporter {__version__}"


def test_bad_listen_address_exits_2_naming_it() -> None:
    run = run_exporter("--web.listen-address", "nonsense", "--config.file", "/nonexistent.yaml")

    assert run.returncode == 2
    assert len(run.stderr_lines()) == 1, run.stderr
    assert "nonsense" in run.stderr


# Keys and secrets that cannot go into an HTTP header or match what Binance signed with. Each
# once passed --config.check, then failed every poll (a traceback, or `network` for a CR/LF).
KEY_HEAD, KEY_TAIL = "KEYHEAD-W3E5R7", "KEYTAIL-must-not-leak-Q9"
BAD_CHARACTERS = {
    "zero-width space": ("\u200b", "a non-ASCII character"),
    "CR/LF": ("\r\n", "a line break"),
    "tab": ("\t", "a tab"),
    "non-ASCII letter": ("é", "a non-ASCII character"),
}


@pytest.mark.parametrize("key", ["api_key", "api_secret"])
@pytest.mark.parametrize("inline", [True, False], ids=["inline", "file"])
@pytest.mark.parametrize("bad", list(BAD_CHARACTERS), ids=list(BAD_CHARACTERS))
def test_key_that_cannot_work_is_refused_naming_its_path_not_its_value(
    tmp_path: Path, key: str, inline: bool, bad: str
) -> None:
    char, kind = BAD_CHARACTERS[bad]
    value = f"{KEY_HEAD}{char}{KEY_TAIL}"
    fields = {"api_key": API_KEY, "api_secret": API_SECRET}
    if inline:
        # A JSON string is a double-quoted YAML scalar: the character arrives as it is.
        fields[key] = json.dumps(value)
        where, source = f"accounts[1].{key}", ""
    else:
        secret_file = write_key_file(tmp_path / "secret", value)
        del fields[key]
        fields[f"{key}_file"] = str(secret_file)
        where, source = f"accounts[1].{key}_file", f" of {secret_file}"
    desk2 = "\n".join(f"    {name}: {text}" for name, text in fields.items())
    path = write_config(
        tmp_path,
        f"""
accounts:
  - name: main
    api_key: {API_KEY}
    api_secret: {API_SECRET}
  - name: desk2
{desk2}
""",
    )

    run = run_exporter("--config.file", str(path), "--config.check")

    assert run.returncode == 2
    assert len(run.stderr_lines()) == 1, run.stderr
    assert run.stdout == ""
    index = len(KEY_HEAD) + 1
    assert f'error="{where}: character {index}{source} is {kind};' in run.stderr
    assert "Traceback" not in run.stderr
    for part in (KEY_HEAD, KEY_TAIL, API_SECRET):
        assert part not in run.stderr


MAIN_CONFIG = """
base_url: http://127.0.0.1:1
time_url: http://127.0.0.1:1/fapi/v1/time
accounts:
  - name: main
    api_key: key
    api_secret: secret
"""


STARTUP_MISTAKES = {
    "unknown key": ("basic_auth_user: {}\n", "basic_auth_user: unknown key"),
    "bad hash": ("basic_auth_users:\n  alice: hunter2\n", "basic_auth_users.alice"),
    "missing cert file": (
        "tls_server_config:\n  cert_file: gone.crt\n  key_file: server.key\n",
        "tls_server_config.cert_file: cannot read",
    ),
    "a value YAML cannot build": (
        "http_server_config:\n  http2: 2024-02-30\n",
        "http_server_config.http2",
    ),
    "RequireAnyClientCert": (
        WEB_TLS + "  client_auth_type: RequireAnyClientCert\n  client_ca_file: clients.crt\n",
        "tls_server_config.client_auth_type",
    ),
}


@pytest.mark.parametrize("case", list(STARTUP_MISTAKES), ids=list(STARTUP_MISTAKES))
def test_web_config_mistake_stops_start_up_with_exit_2(tls_dir: Path, case: str) -> None:
    text, key = STARTUP_MISTAKES[case]
    (tls_dir / "web.yml").write_text(text, encoding="utf-8")
    (tls_dir / "config.yaml").write_text(MAIN_CONFIG, encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(tls_dir / "config.yaml"),
            "--web.config.file",
            str(tls_dir / "web.yml"),
            "--web.listen-address",
            "127.0.0.1:0",
        ],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, lines
    assert 'event="invalid web configuration"' in lines[0]
    assert f'error="{key}' in lines[0]
    assert "hunter2" not in done.stderr


def test_config_plan_prints_the_plan_of_every_account_and_exits_0(tmp_path: Path) -> None:
    accounts = [
        {"name": f"sub-{i}", "api_key": f"key-{i}", "api_secret": f"secret-{i}"} for i in range(3)
    ]
    # Over one replica's budget (3 x 140/min): the plan is what says how many shards it takes.
    config = write_config(
        tmp_path, yaml.safe_dump({"max_weight_per_minute": 300, "accounts": accounts})
    )
    run = run_exporter("--config.file", str(config), "--config.plan")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"configuration {config}: the plan\n3 accounts, ")
    assert "  sub-0    20          80       20                20       140\n" in run.stdout
    assert run.stdout.endswith("smallest --shard.count whose busiest shard fits: 2\n")


def skipped_config(tmp_path: Path) -> Path:
    """The chart README's example: key files under a mount this machine does not have."""
    accounts = [
        {"name": "main", "api_key_file": "/nonexistent/main.key",
         "api_secret_file": "/nonexistent/main.secret"},
        {"name": "desk2", "api_key_file": "/nonexistent/desk2.key",
         "private_key_file": "/nonexistent/desk2.pem", "shard": 1},
    ]  # fmt: skip
    return write_config(tmp_path, yaml.safe_dump({"accounts": accounts}))


def test_config_check_with_skip_secrets_lists_the_unread_files_and_exits_0(tmp_path: Path) -> None:
    config = skipped_config(tmp_path)
    run = run_exporter(
        "--config.file", str(config), "--config.check", "--config.skip-secrets",
        "--shard.count=2", "--shard.index=1",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.endswith(
        "shard 1 of 0..1: owns 1 of 2 accounts\n"
        "skipped 2 secret files that cannot be read here (--config.skip-secrets):\n"
        "  - accounts[1].api_key_file: /nonexistent/desk2.key: No such file or directory\n"
        "  - accounts[1].private_key_file: /nonexistent/desk2.pem: No such file or directory\n"
    )


def test_config_check_without_skip_secrets_refuses_a_missing_secret_file(tmp_path: Path) -> None:
    run = run_exporter("--config.file", str(skipped_config(tmp_path)), "--config.check")
    assert run.returncode == 2
    assert "accounts[0].api_key_file: cannot read /nonexistent/main.key" in run.stderr


def test_config_plan_with_skip_secrets_plans_every_account(tmp_path: Path) -> None:
    config = skipped_config(tmp_path)
    run = run_exporter("--config.file", str(config), "--config.plan", "--config.skip-secrets")
    assert run.returncode == 0, run.stderr
    assert "smallest --shard.count whose busiest shard fits: 2\n" in run.stdout
    assert "skipped 4 secret files that cannot be read here" in run.stdout


def test_skip_secrets_never_serves(tmp_path: Path) -> None:
    run = run_exporter("--config.file", str(skipped_config(tmp_path)), "--config.skip-secrets")
    assert run.returncode == 2
    assert len(run.stderr_lines()) == 1
    assert "--config.skip-secrets needs --config.check or --config.plan" in run.stderr
