"""``basic_auth_users``: the bcrypt hashes, and checking a request's Basic credentials on them."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import bcrypt

from exporter.validation import ConfigError

# Successful logins remembered, so a scrape does not pay bcrypt every time.
VERIFIED_CACHE_SIZE = 256
# bcrypt reads at most 72 bytes of a password; pyca/bcrypt 5 raises on longer ones.
BCRYPT_MAX_PASSWORD = 72
BCRYPT_RE = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")


def parse_users(raw: Any) -> dict[str, bytes]:
    """``basic_auth_users``: user name -> bcrypt hash; raises ConfigError naming the user."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("basic_auth_users", "must be a mapping of user name to bcrypt hash")
    users = {}
    for user, hashed in raw.items():
        key = f"basic_auth_users.{user}"
        if not isinstance(user, str):
            raise ConfigError(key, "user names must be strings")
        if ":" in user:
            raise ConfigError(key, "a user name cannot contain ':' (Basic auth splits on it)")
        # The value is never echoed: a plaintext password pasted here must not reach the log.
        if not isinstance(hashed, str) or not BCRYPT_RE.match(hashed):
            raise ConfigError(
                key, "not a bcrypt hash ($2y$, $2b$ or $2a$, as `htpasswd -nBC 10 user` makes)"
            )
        users[user] = hashed.encode("ascii")
    return users


def dummy_hash(users: Mapping[str, bytes]) -> bytes:
    """A hash of a random password at the highest cost among ``users`` (empty when none)."""
    if not users:
        return b""
    cost = max(int(h[4:6]) for h in users.values())
    return bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(rounds=cost))


class BasicAuth:
    """``basic_auth_users``: bcrypt, in constant time whether or not the user exists.

    A login that bcrypt verified is remembered by a SHA-256 of user, hash and password (never the
    password itself) so that a scrape every few seconds does not pay bcrypt's cost each time.
    """

    def __init__(self, users: Mapping[str, bytes], dummy_hash: bytes) -> None:
        self.users = users
        self._dummy_hash = dummy_hash
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        # bcrypt is CPU-bound: one check at a time, off the event loop (exporter-toolkit also
        # serialises them).
        self._lock = asyncio.Lock()
        self.bcrypt_checks = 0

    async def check(self, authorization: str | None) -> bool:
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self.users.get(user)
        known = hashed is not None
        if hashed is None:
            hashed = self._dummy_hash
        digest = _login_digest(user, hashed, password)
        if known and digest in self._verified:
            self._verified.move_to_end(digest)
            return True
        async with self._lock:
            ok = await asyncio.to_thread(self._checkpw, password, hashed)
        if not (ok and known):
            return False
        self._remember(digest)
        return True

    def _remember(self, digest: bytes) -> None:
        self._verified[digest] = None
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    def _checkpw(self, password: bytes, hashed: bytes) -> bool:
        if len(password) > BCRYPT_MAX_PASSWORD:
            return False  # depends on the password only, so it reveals nothing about users
        self.bcrypt_checks += 1
        try:
            return bcrypt.checkpw(password, hashed)
        except ValueError:
            return False


def _login_digest(user: str, hashed: bytes, password: bytes) -> bytes:
    parts = (user.encode("utf-8", "surrogateescape"), hashed, password)
    return hashlib.sha256(b":".join(s.hex().encode() for s in parts)).digest()


def _basic_credentials(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    return user.decode("utf-8", "surrogateescape"), password
