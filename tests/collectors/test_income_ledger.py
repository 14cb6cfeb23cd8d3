"""The income ledger alone: which records count, each once."""

from __future__ import annotations

from decimal import Decimal

from exporter.collectors import ParseOptions
from exporter.collectors._income import IncomeLedger
from exporter.collectors.um_income import COLLECTOR as UM_INCOME


def test_the_ledger_skips_ids_already_counted_at_its_cursor() -> None:
    ledger = IncomeLedger(start_ms=1000)
    transfer = {
        "symbol": "",
        "incomeType": "TRANSFER",
        "income": "1",
        "asset": "USDT",
        "info": "",
        "time": 1001,
        "tranId": "9",
        "tradeId": "",
    }
    rows = [
        transfer,
        {**transfer, "tranId": 9},  # the same id as a JSON number
        {"symbol": "", "incomeType": "TRANSFER", "asset": "USDT", "time": 1002, "tranId": "10"},
    ]
    result = UM_INCOME.parse(rows, ParseOptions(memory=ledger))
    assert result.skipped == 1  # no income
    assert ledger.received == {("USDT", "TRANSFER", ""): Decimal(1)}
    assert ledger.cursor_ms == 1001
