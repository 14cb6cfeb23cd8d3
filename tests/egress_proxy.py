"""A shard's egress: an HTTPS proxy (CONNECT) in front of the simulator, on its own loop.

It answers CONNECT, ends the client's TLS itself with a certificate for the requested host (from
a test CA the exporter is told to trust through SSL_CERT_FILE), and relays the plain requests to
the simulator, noting the API key of each: which accounts left through this egress. The exporter
can only reach the made-up host it is configured with through the proxy in its environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections import Counter

import trustme


class EgressProxy:
    def __init__(self, ca: trustme.CA, host: str, upstream: tuple[str, int]) -> None:
        self.host, self.upstream = host, upstream
        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(host).configure_cert(self._ssl)
        self.connects: Counter[str] = Counter()  # CONNECT targets
        self.api_keys: Counter[str] = Counter()  # X-MBX-APIKEY of every relayed request
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    def __enter__(self) -> EgressProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def accounts(self, key_to_account: dict[str, str]) -> set[str]:
        """The accounts whose requests went out through this proxy."""
        return {key_to_account[k] for k in self._snapshot()}

    def _snapshot(self) -> list[str]:
        async def read() -> list[str]:
            return list(self.api_keys)

        return asyncio.run_coroutine_threadsafe(read(), self._loop).result(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.connects[target] += 1
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await writer.start_tls(self._ssl)
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(
                self._relay(reader, up_writer, note_keys=True),
                self._relay(up_reader, writer, note_keys=False),
            )
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, note_keys: bool
    ) -> None:
        partial = b""
        try:
            while chunk := await reader.read(65536):
                if note_keys:
                    *lines, partial = (partial + chunk).split(b"\r\n")
                    for line in lines:
                        name, _, key = line.partition(b":")
                        if name.strip().lower() == b"x-mbx-apikey":
                            self.api_keys[key.strip().decode()] += 1
                writer.write(chunk)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()
