"""A real browser for the tests: Debian's headless Chromium, and a PNG reader for its screenshots.

Chromium runs as root here (CI containers): that needs --no-sandbox. The other flags keep it from
reaching anything but the page it is given (no update, sync or background requests).
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

from tests.helpers import required_binary

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str:
    return required_binary("chromium", "chromium")


def run_chromium(profile: Path, *arguments: str) -> str:
    """Chromium's stdout for one page, with a fresh profile directory."""
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(url: str, profile: Path) -> str:
    """The DOM after the page loaded, serialised."""
    return run_chromium(profile, "--dump-dom", url)


def screenshot(url: str, profile: Path, out: Path, width: int, height: int) -> Path:
    run_chromium(profile, f"--window-size={width},{height}", f"--screenshot={out}", url)
    return out


def png_colours(path: Path) -> dict[tuple[int, ...], int]:
    """Pixel counts by colour of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium
    writes): the chunks' IDAT joined, inflated and unfiltered (PNG spec, section 9)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    previous = bytearray(stride)
    counts: dict[tuple[int, ...], int] = {}
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(kind, line, previous, channels)
        for x in range(0, stride, channels):
            colour = tuple(line[x : x + 3])
            counts[colour] = counts.get(colour, 0) + 1
        previous = line
    return counts


def _unfilter(kind: int, line: bytearray, up: bytearray, bpp: int) -> None:
    if kind == 0:
        return
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = up[i]
        if kind == 1:
            predicted = a
        elif kind == 2:
            predicted = b
        elif kind == 3:
            predicted = (a + b) // 2
        else:  # 4: Paeth
            c = up[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predicted = a if pa <= pb and pa <= pc else b if pb <= pc else c
        line[i] = (line[i] + predicted) & 0xFF
