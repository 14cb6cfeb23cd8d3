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
    received: dict[IncomeKey, Decimal] = field(default_factory=dict)
    paid: dict[IncomeKey, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cursor_ms = max(self.cursor_ms, self.start_ms)

    def commit(self, records: list[IncomeRecord]) -> None:
        """Count the records not seen before and after the start; move the cursor."""
        for record in sorted(records, key=lambda r: r.time_ms):
            if record.time_ms <= self.start_ms:
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


@dataclass(frozen=True)
class IncomePages:
    """An income collector's fetch: pages from the account's ledger cursor on, the ledger being
    the state it keeps per account (built on the account's first poll)."""

    def new_memory(self) -> IncomeLedger:
        return IncomeLedger()

    async def fetch(self, get: Fetcher, path: str, ledger: IncomeLedger) -> list[Any]:
        """The raw records from the ledger's cursor on, page after page until caught up.

        Binance returns records oldest first from ``startTime`` (inclusive). A full page is
        followed from its last record's time; should a whole page share one millisecond, the
        next one is asked with ``page`` instead, so paging always moves on.
        """
        records: list[Any] = []
        start, page = ledger.cursor_ms, 1
        for _ in range(MAX_PAGES_PER_POLL):
            params = {"startTime": str(start), "limit": str(PAGE_LIMIT)}
            if page > 1:
                params["page"] = str(page)
            rows = _rows(await get(path, params))
            records.extend(rows)
            if len(rows) < PAGE_LIMIT:
                break
            newest = max((t for t in map(_time, rows) if t is not None), default=None)
            if newest is None:
                raise ApiError("bad_response", "unexpected payload: no record has a time")
            if newest > start:
                start, page = newest, 1
            else:
                page += 1
        return records


class IncomeHistory:
    """Parse and families of /papi/v1/um/income or /papi/v1/cm/income."""

    def __init__(self, prefix: str, path: str, book: str) -> None:
        self.path = path
        self.received = f"{prefix}_income_received_total"
        self.paid = f"{prefix}_income_paid_total"
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
        )

    def parse(self, payload: Any, options: ParseOptions) -> Result:
        """Commits the fetched records into the ledger; its counters are the samples."""
        ledger = options.memory
        if not isinstance(ledger, IncomeLedger) or not isinstance(payload, list):
            raise BadPayload("expected income records and the account's ledger")
        records, skipped = [], 0
        for row in payload:
            record = _record(row)
            if record is None:
                skipped += 1
            else:
                records.append(record)
        ledger.commit(records)
        samples: Samples = {
            self.received: [(key, float(v)) for key, v in ledger.received.items()],
            self.paid: [(key, float(v)) for key, v in ledger.paid.items()],
        }
        return Result(samples, skipped)


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
