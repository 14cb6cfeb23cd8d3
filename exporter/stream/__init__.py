"""The Portfolio Margin user data stream: pushed events besides the polls.

``config`` parses its keys, ``events`` turns frames into counters, ``state`` holds an account's
stream series, ``triggers`` decides when an event asks the scheduler for an early poll, and
``connection`` keeps one account's listen key and socket alive. Polling stays the source of every
gauge; the stream adds event counters and early polls. Nothing is imported here, so that
``exporter.config`` can use ``config`` without pulling in the rest.
"""
