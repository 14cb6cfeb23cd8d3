"""Binance's error answers: the ``{"code": N, "msg": "..."}`` body, its usual messages, and the
code a fault's status implies
(https://developers.binance.com/docs/derivatives/portfolio-margin/error-code)."""

from __future__ import annotations

import orjson

MESSAGES = {
    -1000: "An unknown error occurred while processing the request.",
    -1001: "Internal error; unable to process your request. Please try again.",
    -1003: "Too many requests; please use the websocket for live updates.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1100: "Illegal characters found in parameter 'recvWindow'; legal range is '^[0-9]{1,20}$'.",
    -1102: "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    -1127: "Lookup interval is too big.",
    -1128: "Combination of optional parameters invalid.",
    -1131: "recvWindow must be less than 60000.",
    -2014: "API-key format invalid.",
    -2015: "Invalid API-key, IP, or permissions for action.",
}
AHEAD_MSG = "Timestamp for this request was 1000ms ahead of the server's time."


def default_code(status: int) -> int:
    """The code Binance pairs with an HTTP status, for a fault that names none."""
    if status >= 500:
        return -1001
    if status in (418, 429):
        return -1003
    if status in (401, 403):
        return -2015
    return -1000


class Rejected(Exception):
    """An API error answer: status and Binance code (the message defaults from the code)."""

    def __init__(self, status: int, code: int, msg: str | None = None) -> None:
        super().__init__(msg or MESSAGES.get(code, ""))
        self.status, self.code, self.msg = status, code, msg or MESSAGES.get(code, "")

    @property
    def body(self) -> bytes:
        return orjson.dumps({"code": self.code, "msg": self.msg})
