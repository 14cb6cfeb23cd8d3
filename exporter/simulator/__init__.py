"""A fake Binance Portfolio Margin REST API for the tests and ``--demo``.

``market`` holds the symbols and mark prices, ``accounts`` the accounts and the payload maths,
``ledger`` and ``books`` the money that moves on its own, ``stream`` the user data stream.
The HTTP side: ``endpoints`` (the table: one row per endpoint, its payload builder beside it),
``api`` (the request path in Binance's order), ``auth``, ``limits``, ``faults`` and ``errors``.
The scenario side: ``scene`` (the shared state), ``knobs`` (the registry) and the knobs by
concern (``api_knobs``, ``market_knobs``, ``ledger_knobs``, ``stream_knobs``). ``server`` puts
them together as ``Simulator`` and ``SimulatorThread``; ``demo`` has the sample accounts.
Nothing here is used when the exporter polls the real Binance.
"""
