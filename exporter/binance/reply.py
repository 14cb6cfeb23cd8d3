"""Reading a reply with a size cap, for the PAPI client and the clock alike.

A broken or hostile server may announce a huge body, or stream one without end: the body is read
in chunks and the request is dropped as soon as it passes the cap, so memory stays bounded.
"""

from __future__ import annotations

import httpx

from exporter.binance.errors import ApiError


async def get_capped(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    max_bytes: int,
    method: str = "GET",
) -> tuple[int, httpx.Headers, bytes]:
    """Status, headers and body of a request (a GET unless said); a body over ``max_bytes`` is a
    ``bad_response``."""
    async with http.stream(method, url, headers=headers) as reply:
        length = reply.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise ApiError("bad_response", f"reply of {length} bytes is over the limit")
        chunks, size = [], 0
        async for chunk in reply.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ApiError("bad_response", f"reply over {max_bytes} bytes, cut off")
            chunks.append(chunk)
        return reply.status_code, reply.headers, b"".join(chunks)
