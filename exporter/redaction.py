"""What the exporter prints of a URL or of a remote error: never a password or an API key.

A base_url or time_url may carry ``user:password@`` (a proxy in front of Binance); every log
line, error message, summary and HTTP reply that shows a URL passes it through ``redact_url``.
Binance may quote the API key in an error message (``-2014``/``-2015`` variants, a message that
echoes the header); the text of every remote error passes through ``redact_secrets`` with the
account's key before it becomes an ``ApiError`` (``exporter.binance.errors``), so that no log
line, landing page or stream warning shows it.
"""

from __future__ import annotations

from collections.abc import Iterable

SECRET_MARK = "<secret>"
# A piece of a key this long, in any case, is taken for the key: an echo may be cut short or
# quoted inside other text. Binance's API keys are 64 letters and digits.
MIN_SECRET_PIECE = 8


def redact_url(url: str) -> str:
    """``url`` with its user info shown as ``user:<secret>@`` (``<secret>@`` for a user alone).

    The user info is taken to end at the string's last ``@``, not at the first ``/``, ``?`` or
    ``#`` as RFC 3986 has it: a password with one of those left unencoded is then hidden too, at
    the price of cutting a URL that has an ``@`` in its path (the exporter's URLs have none).
    This works on strings that are not valid URLs, since those are what error messages echo. A
    user name given alone is hidden as well: it is often a token. One ``@`` in a path is known:
    Binance's all-market stream names (``/!markPrice@arr@1s``), a last segment starting with
    ``!``, which is kept as it is and never taken for user info.
    """
    head, sep, name = url.rpartition("/!")
    if sep and "//" in head and "/" in head.partition("//")[2] and ":" not in name:
        return redact_url(head) + sep + name
    scheme, slashes, rest = url.partition("//")
    if not slashes:
        scheme, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:{SECRET_MARK}" if colon else SECRET_MARK
    return f"{scheme}{slashes}{shown}@{host}"


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every run that shares ``MIN_SECRET_PIECE`` or more characters (in any case)
    with one of ``secrets`` shown as ``<secret>``; a secret shorter than that only when whole."""
    lowered = text.lower()
    hidden = [False] * len(text)
    for secret in secrets:
        key = secret.lower()
        if not key:
            continue
        size = min(MIN_SECRET_PIECE, len(key))
        pieces = {key[i : i + size] for i in range(len(key) - size + 1)}
        for start in range(len(text) - size + 1):
            if lowered[start : start + size] in pieces:
                hidden[start : start + size] = [True] * size
    if not any(hidden):
        return text
    out: list[str] = []
    for index, char in enumerate(text):
        if not hidden[index]:
            out.append(char)
        elif index == 0 or not hidden[index - 1]:
            out.append(SECRET_MARK)
    return "".join(out)
