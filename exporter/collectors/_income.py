"""Income history (UM and COIN-M) as counters: what was received and paid since start-up.

Binance's income records are signed (a commission or a funding fee paid is negative) and a
counter only goes up, so each (asset, income type, symbol) has two counters: the sum of the
positive records and the sum of the negative ones' absolute values. Sums are kept as Decimal, so
they are exact to the last digit Binance sends; only the exported value is a float.

Records at or before start-up are not counted, nor, after a restart, ever again: counters start
at 0 (``increase()`` handles the reset). Each poll asks from the newest record already counted
(``startTime`` is inclusive), pages on while pages come back full, and commits what it fetched
only when every page arrived. A record is counted once: Binance's ``tranId`` is unique only
within an income type, so the key is both.

Binance no longer takes ``page`` on these endpoints (derivatives change log, 2026-10-21: ignored
from 2026-10-28, the first page comes back), so a full page whose records share one millisecond
cannot be followed by time: that millisecond is read again split by ``incomeType``, then by
``symbol`` (filters Binance accepts), each value the full page showed, until each part fits a
page. A part still full, or one left unasked past ``MAX_SPLIT_REQUESTS``, is counted as
unreadable (``binance_pm_exporter_income_unreadable_total``) and logged once; the millisecond is
closed all the same, so the next poll starts after it: counters never freeze and nothing is
counted twice. A type or symbol the full page did not show at all cannot be asked for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from exporter.binance.errors import ApiError
from exporter.collectors import BadPayload, Collector, Fetcher, ParseOptions, Result
from exporter.metrics import Family, Samples

LABELS = ("asset", "income_type", "symbol")
# Binance's documented maximum for ``limit`` (default 100).
PAGE_LIMIT = 1000
# Pages one poll may fetch: a backlog larger than this is caught up over the next polls.
MAX_PAGES_PER_POLL = 10
# Requests one split millisecond may take (weight 30 each); the parts left over are unreadable.
MAX_SPLIT_REQUESTS = 20
UNREADABLE = "binance_pm_exporter_income_unreadable_total"
UNREADABLE_FAMILY = Family(
    UNREADABLE,
    "Parts of a millisecond's income records (one income type, or one type and symbol) still a "
    "full page after splitting, or left unasked: some of their records may be missing from the "
    "income counters.",
    ("market",),
    "counter",
)
UNREADABLE_NOTE = (
    "income records unreadable: more than a page of one income type and symbol share a "
    "millisecond, and Binance no longer pages by number"
)

IncomeKey = tuple[str, str, str]  # (asset, income type, symbol): the labels
RecordId = tuple[str, str]  # (income type, tranId)


@dataclass(frozen=True)
class IncomeRecord:
    key: IncomeKey
    record_id: RecordId
    amount: Decimal
    time_ms: int


@dataclass
class IncomeLedger:
    """One account's income counters and where the next poll starts."""

    start_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    cursor_ms: int = -1  # the newest record's time; the start until a record is seen
    # Ids of the records at the cursor's millisecond: the next poll asks from it again.
    at_cursor: set[RecordId] = field(default_factory=set)
    # The newest millisecond read by splitting: done with, the next poll starts after it.
    closed_ms: int = -1
    unreadable: int = 0  # parts of split milliseconds that could not be read whole
    received: dict[IncomeKey, Decimal] = field(default_factory=dict)
    paid: dict[IncomeKey, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cursor_ms = max(self.cursor_ms, self.start_ms)

    @property
    def next_start_ms(self) -> int:
        """Where the next poll asks from: the cursor (inclusive), or past a closed millisecond."""
        return max(self.cursor_ms, self.closed_ms + 1)

    def commit(self, records: list[IncomeRecord], closed_ms: int = -1, unreadable: int = 0) -> None:
        """Count the records not seen before and after the start; move the cursor; close the
        millisecond the fetch split (``closed_ms``) with the parts it could not read."""
        for record in sorted(records, key=lambda r: r.time_ms):
            if record.time_ms <= max(self.start_ms, self.closed_ms):
                continue
            if record.time_ms < self.cursor_ms:
                continue  # older than what was already counted up to (Binance sent it again)
            if record.time_ms > self.cursor_ms:
                self.cursor_ms, self.at_cursor = record.time_ms, set()
            if record.record_id in self.at_cursor:
                continue
            self.at_cursor.add(record.record_id)
            self.received.setdefault(record.key, Decimal(0))
            self.paid.setdefault(record.key, Decimal(0))
            if record.amount > 0:
                self.received[record.key] += record.amount
            else:
                self.paid[record.key] -= record.amount
        self.closed_ms = max(self.closed_ms, closed_ms)
        self.unreadable += unreadable


@dataclass(frozen=True)
class Fetched:
    """What one poll's fetch read: the raw records, the newest millisecond it split (-1: none)
    and the parts of split milliseconds it could not read whole."""

    rows: list[Any]
    closed_ms: int = -1
    unreadable: int = 0


@dataclass(frozen=True)
class IncomePages:
    """An income collector's fetch: pages from the account's ledger cursor on, the ledger being
    the state it keeps per account (built on the account's first poll)."""

    def new_memory(self) -> IncomeLedger:
        return IncomeLedger()

    async def fetch(self, get: Fetcher, path: str, ledger: IncomeLedger) -> Fetched:
        """The raw records from the ledger's cursor on, page after page until caught up.

        Binance returns records oldest first from ``startTime`` (inclusive). A full page is
        followed from its last record's time; a full page of one millisecond is split.
        """
        rows: list[Any] = []
        start, closed, unreadable = ledger.next_start_ms, -1, 0
        for _ in range(MAX_PAGES_PER_POLL):
            page = _rows(await get(path, {"startTime": str(start), "limit": str(PAGE_LIMIT)}))
            rows.extend(page)
            if len(page) < PAGE_LIMIT:
                break
            times = [t for t in map(_time, page) if t is not None]
            if not times:
                raise ApiError("bad_response", "unexpected payload: no record has a time")
            newest = max(times)
            if min(times) < newest:
                start = newest  # its records are asked again: the ledger counts each once
                continue
            if newest > ledger.start_ms:  # history before the start is not counted: not split
                split = await _split(get, path, newest, page)
                rows.extend(split.rows)
                unreadable += split.unreadable
            closed, start = newest, newest + 1
        return Fetched(rows, closed, unreadable)


async def _split(get: Fetcher, path: str, time_ms: int, page: list[Any]) -> Fetched:
    """The records of one millisecond, part by part: by each income type the full ``page``
    showed, a part still full by each symbol it showed; what cannot be read is counted."""
    window = {"startTime": str(time_ms), "endTime": str(time_ms), "limit": str(PAGE_LIMIT)}
    parts: list[dict[str, str]] = [{"incomeType": t} for t in _values(page, "incomeType")]
    rows: list[Any] = []
    unreadable = asked = 0
    while parts:
        part = parts.pop(0)
        if asked == MAX_SPLIT_REQUESTS:
            unreadable += 1 + len(parts)
            break
        asked += 1
        found = _rows(await get(path, {**window, **part}))
        rows.extend(found)
        if len(found) < PAGE_LIMIT:
            continue
        if "symbol" in part:
            unreadable += 1
            continue
        symbols = _values(found, "symbol")
        if any(not _text(row, "symbol") for row in found):
            unreadable += 1  # records without a symbol: no filter reaches past this page
        parts.extend({**part, "symbol": symbol} for symbol in symbols)
    return Fetched(rows, time_ms, unreadable)


def _values(rows: list[Any], name: str) -> list[str]:
    """The distinct non-empty texts of one field in ``rows``, in the order they first appear."""
    return list(dict.fromkeys(v for v in (_text(row, name) for row in rows) if v))


def _text(row: Any, name: str) -> str:
    value = row.get(name) if type(row) is dict else None
    return value if isinstance(value, str) else ""


class IncomeHistory:
    """Parse and families of /papi/v1/um/income or /papi/v1/cm/income."""

    def __init__(self, prefix: str, path: str, book: str) -> None:
        self.path = path
        self.received = f"{prefix}_income_received_total"
        self.paid = f"{prefix}_income_paid_total"
        self.market = prefix.removeprefix("binance_pm_")
        self.families = (
            Family(
                self.received,
                f"Sum of the positive {book} income records (funding received, realized "
                "profit, rebates, ...) since the exporter started, in the asset.",
                LABELS,
                "counter",
            ),
            Family(
                self.paid,
                f"Sum of the negative {book} income records as a positive amount (funding "
                "paid, commissions, realized losses, ...) since the exporter started, in the "
                "asset.",
                LABELS,
                "counter",
            ),
            UNREADABLE_FAMILY,
        )

    def parse(self, payload: Any, options: ParseOptions) -> Result:
        """Commits the fetched records into the ledger; its counters are the samples."""
        ledger = options.memory
        if not isinstance(ledger, IncomeLedger) or not isinstance(payload, Fetched):
            raise BadPayload("expected income records and the account's ledger")
        records, skipped = [], 0
        for row in payload.rows:
            record = _record(row)
            if record is None:
                skipped += 1
            else:
                records.append(record)
        ledger.commit(records, payload.closed_ms, payload.unreadable)
        samples: Samples = {
            self.received: [(key, float(v)) for key, v in ledger.received.items()],
            self.paid: [(key, float(v)) for key, v in ledger.paid.items()],
            UNREADABLE: [((self.market,), float(ledger.unreadable))],
        }
        return Result(samples, skipped, notes=[UNREADABLE_NOTE] if payload.unreadable else [])


def income_collector(market: str, book: str) -> Collector:
    """The income collector of one market ("um" or "cm"); ``book`` names it in the help text."""
    history = IncomeHistory(f"binance_pm_{market}", f"/papi/v1/{market}/income", book)
    return Collector(
        name=f"{market}_income",
        path=history.path,
        weight=30,
        # Income is history: every five minutes is plenty, and each poll pages until caught up.
        default_interval=300,
        families=history.families,
        parse=history.parse,
        decode=decode,
        fetch=IncomePages(),
    )


def decode(payload: Any, options: ParseOptions) -> Any:
    """``IncomePages.fetch`` already decoded the pages."""
    return payload


def _rows(body: bytes) -> list[Any]:
    try:
        rows = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError("bad_response", "unexpected payload: body is not JSON") from None
    if not isinstance(rows, list):
        raise ApiError("bad_response", "unexpected payload: expected a JSON array")
    return rows


def _time(row: Any) -> int | None:
    value = row.get("time") if type(row) is dict else None
    if type(value) is int and value >= 0:
        return value
    if type(value) is str and value.isdigit():
        return int(value)
    return None


def _record(row: Any) -> IncomeRecord | None:
    """One record, or None when it lacks what counting needs (type, id, time, asset, amount)."""
    if type(row) is not dict:
        return None
    time_ms = _time(row)
    income_type, asset, symbol = row.get("incomeType"), row.get("asset"), row.get("symbol", "")
    tran_id = row.get("tranId")
    if type(tran_id) is int:
        tran_id = str(tran_id)
    if (
        time_ms is None
        or not (isinstance(income_type, str) and income_type)
        or not (isinstance(asset, str) and asset)
        or not (isinstance(tran_id, str) and tran_id)
    ):
        return None
    if not isinstance(symbol, str):
        symbol = ""
    amount = _amount(row.get("income"))
    if amount is None:
        return None
    return IncomeRecord((asset, income_type, symbol), (income_type, tran_id), amount, time_ms)


def _amount(value: Any) -> Decimal | None:
    if type(value) is not str and type(value) is not int:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
