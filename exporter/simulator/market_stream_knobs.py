"""The scenario's market streams: the knobs on their interval and sockets.

The streams themselves (paths, frames, the pusher): ``exporter.simulator.market_stream``.
"""

from __future__ import annotations

from exporter.simulator.knobs import knob
from exporter.simulator.market_stream import SimMarket
from exporter.simulator.scene import Scene


class MarketStreamKnobs(Scene):
    """The knobs on the market streams."""

    @knob()
    def set_market_stream_interval(self, seconds: float) -> None:
        """Push the mark price arrays every ``seconds`` (Binance: 1 s)."""
        if seconds <= 0:
            raise ValueError("an interval is positive")
        self.mark_streams.interval_seconds = float(seconds)

    @knob()
    def set_market_stream_silent(self, silent: bool = True, market: str | None = None) -> None:
        """The market's (``um``, ``cm``; None: both) stream sockets send nothing and answer no
        ping, while staying connected."""
        target = self.mark_streams.silent
        chosen = _market(market)
        if silent:
            target.add(chosen)
        else:
            target.discard(chosen)

    @knob()
    def drop_market_stream(self, market: str | None = None) -> None:
        """Cut the TCP connections of the market's (None: both) stream, no close frame."""
        self.mark_streams.drop(_market(market))

    @knob()
    def send_market_stream_frames(self, market: str, frames: list[str]) -> None:
        """Send these text frames as they are (garbage, odd entries) on the market's sockets."""
        chosen = _market(market)
        if chosen is None:
            raise ValueError("a market is um or cm")
        self.mark_streams.send_soon(chosen, list(frames))


def _market(value: str | None) -> SimMarket | None:
    if value is None:
        return None
    if value == "um":
        return "um"
    if value == "cm":
        return "cm"
    raise ValueError(f"unknown market {value!r}: um or cm")
