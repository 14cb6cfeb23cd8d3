"""What the exporter prints of a URL: never the password in its user info.

A base_url or time_url may carry ``user:password@`` (a proxy in front of Binance); every log
line, error message, summary and HTTP reply that shows a URL passes it through ``redact_url``.
"""

from __future__ import annotations

SECRET_MARK = "<secret>"


def redact_url(url: str) -> str:
    """``url`` with its user info shown as ``user:<secret>@`` (``<secret>@`` for a user alone).

    The user info is taken to end at the string's last ``@``, not at the first ``/``, ``?`` or
    ``#`` as RFC 3986 has it: a password with one of those left unencoded is then hidden too, at
    the price of cutting a URL that has an ``@`` in its path (the exporter's URLs have none).
    This works on strings that are not valid URLs, since those are what error messages echo. A
    user name given alone is hidden as well: it is often a token.
    """
    scheme, slashes, rest = url.partition("//")
    if not slashes:
        scheme, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:{SECRET_MARK}" if colon else SECRET_MARK
    return f"{scheme}{slashes}{shown}@{host}"
