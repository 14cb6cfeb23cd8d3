"""The Portfolio Margin user data stream: pushed events besides the polls.

``config`` parses its keys, ``events`` reads a frame's fields, ``kinds`` is the table of event
kinds (parse, tally, families, the collectors each refreshes), ``state`` holds an account's
stream series, ``triggers`` decides when an asked-for early poll goes to the scheduler, and
``connection`` keeps one account's listen key and socket alive. Polling stays the source of every
gauge; the stream adds event counters and early polls. Nothing is imported here, so that
``exporter.config`` can use ``config`` without pulling in the rest.
"""
