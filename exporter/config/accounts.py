"""An account's key material: the API key, the HMAC secret or private key, and its signer.

Inline or from ``*_file`` (bounded reads, a warning when others, or a group the process is not
in, can read the file),
checked for what Binance can never accept, and never echoed in an error: a mistake names the key
path, the file and the kind of character, not the value. The signer is built here, once, at load.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from exporter.binance.signing import HmacSigner, InvalidKeyError, Signer, signer_from_pem
from exporter.config.model import Secret
from exporter.files import read_bounded, reading, size_text
from exporter.validation import ConfigError, string, type_name


@dataclass
class SecretFiles:
    """How one load reads the ``*_file`` secrets, and what came of it."""

    # --config.skip-secrets: a file that cannot be read (not on this workstation) is skipped,
    # so that --config.check and --config.plan work without the keys. Never for serving.
    skip_unreadable: bool = False
    warnings: list[str] = field(default_factory=list)  # loose permissions
    skipped: list[str] = field(default_factory=list)  # "<key path>: <file>: <why>"


# Stands for a skipped file's secret: printable ASCII, so the key checks pass, and never sent.
SKIPPED = Secret("skipped-by-config.skip-secrets")

# A secret file holds one key (a 16384-bit RSA PEM is about 13 KiB); only this much (plus one
# byte, to tell) is ever read.
MAX_SECRET_BYTES = 64 * 1024


def api_key(item: dict, path: str, files: SecretFiles) -> Secret:
    """The account's API key (``api_key`` or ``api_key_file``); it is required."""
    key = _secret(item, path, "api_key", files)
    if key is None:
        raise ConfigError(f"{path}.api_key", "is required (api_key or api_key_file)")
    return key


def signing_key(
    item: dict, path: str, files: SecretFiles
) -> tuple[Secret | None, Secret | None, Signer]:
    """The HMAC secret or the private key (exactly one of them), checked, and its signer."""
    api_secret = _secret(item, path, "api_secret", files)
    private_key, key_path, source = _private_key(item, path, files)
    if api_secret is not None and private_key is not None:
        raise ConfigError(key_path, "give either an API secret or a private key, not both")
    if api_secret is None and private_key is None:
        raise ConfigError(
            f"{path}.api_secret",
            "is required (api_secret, api_secret_file, private_key or private_key_file)",
        )
    if SKIPPED in (api_secret, private_key):  # only checked or planned, never signs
        return api_secret, private_key, HmacSigner(SKIPPED.reveal())
    try:
        return api_secret, private_key, make_signer(api_secret, private_key)
    except InvalidKeyError as exc:  # the key parsed once, at load: the error names its file
        raise ConfigError(key_path, f"{source}: {exc}") from None


def make_signer(api_secret: Secret | None, private_key_pem: Secret | None) -> Signer:
    """The account's signer: HMAC from the secret, or RSA/Ed25519 from the private key."""
    if api_secret is not None:
        return HmacSigner(api_secret.reveal())
    if private_key_pem is None:
        raise ValueError("an account needs an API secret or a private key")
    return signer_from_pem(private_key_pem.reveal().encode())


def _private_key(item: dict, path: str, files: SecretFiles) -> tuple[Secret | None, str, str]:
    """The PEM inline (``private_key``) or from its file, its key path and where it came from."""
    inline = item.get("private_key")
    if inline is None:
        where = f"{path}.private_key_file"
        key = _secret_file(item, path, "private_key_file", files, strip=False)
        return key, where, str(item.get("private_key_file", ""))
    where = f"{path}.private_key"
    if "private_key_file" in item:
        raise ConfigError(
            f"{path}.private_key_file", "give either private_key or private_key_file, not both"
        )
    if not isinstance(inline, str) or not inline.strip():
        raise ConfigError(where, f"must be a PEM string, not {type_name(inline)}")
    return Secret(inline), where, "the inline key"


def _secret(item: dict, path: str, key: str, files: SecretFiles) -> Secret | None:
    """An API key or HMAC secret, inline or from its file, stripped and checked."""
    inline, file_key = item.get(key), f"{key}_file"
    if inline is not None and file_key in item:
        raise ConfigError(f"{path}.{file_key}", f"give either {key} or {file_key}, not both")
    if inline is not None:
        inline = string(item, key, "", f"{path}.{key}")
        if not inline.strip():
            raise ConfigError(f"{path}.{key}", "is empty")
        secret = Secret(inline.strip())
        _check_key_characters(secret, f"{path}.{key}", "")
        return secret
    from_file = _secret_file(item, path, file_key, files, strip=True)
    if from_file is not None:
        _check_key_characters(from_file, f"{path}.{file_key}", f" of {item[file_key]}")
    return from_file


def _check_key_characters(secret: Secret, where: str, source: str) -> None:
    """Refuse what cannot go into the X-MBX-APIKEY header or be what Binance signed with.

    Binance's keys and secrets are printable ASCII without whitespace; anything else (a pasted
    zero-width space, a CR/LF) would fail every poll. The error says which kind of character and
    where, never the value or any part of it.
    """
    for index, char in enumerate(secret.reveal(), start=1):
        if "!" <= char <= "~":
            continue
        if char in " \t":
            kind = "a space" if char == " " else "a tab"
        elif char in "\r\n":
            kind = "a line break"
        elif char.isascii():
            kind = "a control character"
        else:
            kind = "a non-ASCII character"
        raise ConfigError(
            where,
            f"character {index}{source} is {kind}; Binance keys are printable ASCII without spaces",
        )


def own_groups() -> frozenset[int]:
    """The groups this process runs with: its own and its supplementary ones (a pod's fsGroup)."""
    return frozenset((os.getgid(), *os.getgroups()))


def loose_permissions(mode: int, gid: int, own: frozenset[int]) -> str | None:
    """Who besides this process can reach a secret file ("others", "group ..."), else None.

    Group access is fine when the group is one of the process's own: the kubelet mounts a
    Secret with ``fsGroup`` as mode 0440, group the pod's fsGroup, which the process is in.
    """
    if mode & stat.S_IRWXO:
        return "others"
    if mode & stat.S_IRWXG and gid not in own:
        return f"group {gid}, not one of the exporter's"
    return None


def _secret_path(filename: object, where: str) -> str:
    if not isinstance(filename, str) or not filename:
        raise ConfigError(where, f"must be a file path, not {type_name(filename)}")
    if "\n" in filename or "BEGIN" in filename or len(filename) > 4096:
        # Someone put the secret itself here: say so without echoing it.
        raise ConfigError(where, "must be the path of a file holding the secret, not the secret")
    return filename


def _secret_file(
    item: dict, path: str, key: str, files: SecretFiles, *, strip: bool
) -> Secret | None:
    if key not in item:
        return None
    where = f"{path}.{key}"
    filename = _secret_path(item[key], where)
    try:
        with reading(where, "secret file", filename):  # a FIFO's timeout names this file
            data = read_bounded(filename, MAX_SECRET_BYTES)
            status = os.stat(filename)
    except OSError as exc:
        if files.skip_unreadable:
            files.skipped.append(f"{where}: {filename}: {exc.strerror or exc}")
            return SKIPPED
        raise ConfigError(where, f"cannot read {filename}: {exc.strerror or exc}") from None
    except ValueError:
        raise ConfigError(where, f"{filename!r} is not a valid file path") from None
    if data is None:
        raise ConfigError(where, f"{filename} is larger than {size_text(MAX_SECRET_BYTES)}")
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(where, f"{filename} is not UTF-8 text") from None
    loose = loose_permissions(status.st_mode, status.st_gid, own_groups())
    if loose:
        files.warnings.append(
            f"secret file {filename} ({where}) is accessible by {loose} "
            f"(mode {stat.S_IMODE(status.st_mode):04o}); chmod 600 it"
        )
    value = content.strip()
    if not value:
        raise ConfigError(where, f"{filename} is empty")
    return Secret(value if strip else content)
