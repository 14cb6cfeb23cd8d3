"""A fake Binance Portfolio Margin REST API for the tests and ``--demo``.

``market`` holds the symbols and mark prices, ``accounts`` the accounts and the payload maths,
``server`` the HTTP server with Binance's rules and the fault knobs (its docstring lists them),
``demo`` the sample accounts. Nothing here is used when the exporter polls the real Binance.
"""
