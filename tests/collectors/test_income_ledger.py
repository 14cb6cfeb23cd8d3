"""The income ledger alone: which records count, each once."""

from __future__ import annotations

from decimal import Decimal

from exporter.collectors import ParseOptions
from exporter.collectors._income import Fetched, IncomeLedger
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
    result = UM_INCOME.parse(Fetched(rows), ParseOptions(memory=ledger))
    assert result.skipped == 1  # no income
    assert ledger.received == {("USDT", "TRANSFER", ""): Decimal(1)}
    assert ledger.cursor_ms == 1001


def test_a_closed_millisecond_is_not_counted_again_and_the_next_poll_starts_after_it() -> None:
    ledger = IncomeLedger(start_ms=1000)
    row = {"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": "-1", "asset": "USDT"}
    first = [{**row, "time": 1005, "tranId": str(i)} for i in range(3)]
    result = UM_INCOME.parse(
        Fetched(first, closed_ms=1005, unreadable=2), ParseOptions(memory=ledger)
    )
    assert ledger.paid == {("USDT", "FUNDING_FEE", "BTCUSDT"): Decimal(3)}
    assert ledger.next_start_ms == 1006
    assert result.samples["binance_pm_exporter_income_unreadable_total"] == [(("um",), 2.0)]
    assert result.notes  # logged once by the scheduler
    again = [{**row, "time": 1005, "tranId": "7"}, {**row, "time": 1006, "tranId": "8"}]
    result = UM_INCOME.parse(Fetched(again), ParseOptions(memory=ledger))
    assert ledger.paid == {("USDT", "FUNDING_FEE", "BTCUSDT"): Decimal(4)}
    assert result.samples["binance_pm_exporter_income_unreadable_total"] == [(("um",), 2.0)]
    assert result.notes == []
    assert ledger.next_start_ms == 1006  # the cursor's millisecond is asked again
