"""The scenario knobs' registry: how a knob is declared, reached over HTTP and converted.

A knob is a ``Simulator`` method marked ``@knob`` (they live in ``scene``, ``api_knobs``,
``market_knobs``, ``ledger_knobs``, ``stream_knobs`` and ``market_stream_knobs``), each described by
its own docstring; ``KNOBS`` is the registry (complete once ``exporter.simulator.server`` is
imported) and ``server.knob_reference()`` lists them all. ``SimulatorThread`` runs every knob, with
the same arguments, on the simulator's loop (so a test's thread can call ``sim.set_fault(...)``),
and ``POST /_sim/<name>`` runs it over HTTP with a JSON object of the keyword arguments, where name
is the knob's method name without ``set_`` (``fault``, ``clock_skew`` with ``{"ms": N}``,
``freeze_prices`` with ``{"frozen": bool}``, ...). Decimals travel as strings, ``body`` as text,
``public_key_pem`` as text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from exporter.simulator.accounts import CMPosition, SimAccount, UMPosition
from exporter.simulator.books import CrossMargin

JsonArgs = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])


def _same(args: JsonArgs) -> JsonArgs:
    return args


def fault_args(args: JsonArgs) -> JsonArgs:
    """``set_fault``'s ``body`` travels as text."""
    if isinstance(args.get("body"), str):
        args = {**args, "body": args["body"].encode()}
    return args


def account_args(args: JsonArgs) -> JsonArgs:
    """``add_account``'s account travels as its own fields."""
    return {"account": account_from_json(args)}


@dataclass(frozen=True)
class Knob:
    """A ``Simulator`` method that sets up a scenario, from a test's thread or over HTTP."""

    method: str  # on Simulator and SimulatorThread
    http: str  # POST /_sim/<http>: the method's name without "set_"
    convert: Callable[[JsonArgs], JsonArgs]  # the JSON keyword arguments -> the method's
    function: Callable[..., Any]  # the method itself, for its signature and docstring


KNOBS: dict[str, Knob] = {}  # by method name, in the order they are declared


def knob(convert: Callable[[JsonArgs], JsonArgs] = _same) -> Callable[[F], F]:
    """Registers a Simulator method as a knob; ``convert`` turns its JSON arguments into its own
    (decimals may stay strings: the knobs take them)."""

    def register(method: F) -> F:
        name = method.__name__
        KNOBS[name] = Knob(name, name.removeprefix("set_"), convert, method)
        return method

    return register


def http_knob(name: str) -> Knob | None:
    """The knob ``POST /_sim/<name>`` runs."""
    return next((k for k in KNOBS.values() if k.http == name), None)


def account_from_json(data: dict[str, Any]) -> SimAccount:
    """A SimAccount from JSON-friendly values (decimals as strings, PEM as text)."""
    pem = data.get("public_key_pem")
    return SimAccount(
        name=data["name"],
        api_key=data["api_key"],
        api_secret=data.get("api_secret"),
        public_key_pem=pem.encode() if isinstance(pem, str) else pem,
        mode=data.get("mode", "one_way"),
        balances={k: Decimal(v) for k, v in data.get("balances", {}).items()},
        cm_balances={k: Decimal(v) for k, v in data.get("cm_balances", {}).items()},
        um_positions=[UMPosition(**p) for p in data.get("um_positions", [])],
        cm_positions=[CMPosition(**p) for p in data.get("cm_positions", [])],
        status_override=data.get("status_override"),
        cross_margin={k: CrossMargin(**v) for k, v in data.get("cross_margin", {}).items()},
    )
