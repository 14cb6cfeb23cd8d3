"""UM leverage brackets end to end: the simulator's table on /metrics, for the symbols held."""

from __future__ import annotations

from exporter.collectors.um_leverage_bracket import COLLECTOR
from tests.helpers import ExporterThread, make_config, series, wait_for

P = "binance_pm_um_leverage_bracket_"
FIELDS = {
    "initial_leverage": "initialLeverage",
    "notional_floor": "notionalFloor",
    "notional_cap": "notionalCap",
    "maint_margin_ratio": "maintMarginRatio",
    "maint_amount": "cum",
}
COLLECTORS = ["um_account", {"name": "um_leverage_bracket", "interval_seconds": 1}]


def exported(samples: dict) -> dict[tuple[str, str, str, str], float]:
    """(family suffix, account, symbol, bracket) -> value, for the per-bracket families."""
    out = {}
    for suffix in FIELDS:
        for key, v in series(samples, P + suffix).items():
            labels = dict(key[1])
            out[(suffix, labels["account"], labels["symbol"], labels["bracket"])] = v
    return out


def expected(sim, account: str, symbols: set[str]) -> dict[tuple[str, str, str, str], float]:
    out = {}
    for entry in sim.last_payload(account, COLLECTOR.path):
        if entry["symbol"] not in symbols:
            continue
        for bracket in entry["brackets"]:
            for suffix, field in FIELDS.items():
                key = (suffix, account, entry["symbol"], str(bracket["bracket"]))
                out[key] = float(bracket[field])
    return out


def test_the_brackets_of_the_symbols_held_equal_what_the_simulator_served(sim, accounts) -> None:
    config = make_config(sim.base_url, accounts, collectors=COLLECTORS)
    with ExporterThread(config) as exporter:
        wait_for(lambda: {k[1] for k in exported(exporter.samples())} == {"oneway", "hedge"})
        exporter.stop_polling()
        samples = exporter.samples()
    # oneway holds BTC and ETH and has an open order on SOL; hedge holds BTC and XRP.
    want = expected(sim, "oneway", {"BTCUSDT", "ETHUSDT", "SOLUSDT"})
    want |= expected(sim, "hedge", {"BTCUSDT", "XRPUSDT"})
    assert exported(samples) == want
    assert want[("maint_margin_ratio", "oneway", "BTCUSDT", "1")] == 0.004
    assert want[("initial_leverage", "oneway", "BTCUSDT", "1")] == 125.0
    coefficients = series(samples, P + "notional_coefficient", account="hedge")
    assert sorted(dict(k[1])["symbol"] for k in coefficients) == ["BTCUSDT", "XRPUSDT"]
    assert set(coefficients.values()) == {1.0}


def test_a_closed_position_takes_its_symbols_brackets_with_it(sim, accounts) -> None:
    config = make_config(sim.base_url, accounts[:1], collectors=COLLECTORS)
    with ExporterThread(config) as exporter:

        def symbols() -> set[str]:
            return {k[2] for k in exported(exporter.samples())}

        wait_for(lambda: symbols() == {"BTCUSDT", "ETHUSDT", "SOLUSDT"})
        sim.close_position("oneway", "ETHUSDT")
        wait_for(lambda: symbols() == {"BTCUSDT", "SOLUSDT"})
