"""Command line: the Go exporters' flags, logging set-up, start and clean stop."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from functools import partial

import structlog

from exporter import __version__
from exporter.app import Exporter, ListenAddressError, parse_listen_address
from exporter.config import Config, load_config
from exporter.config.plan import capacity_plan
from exporter.files import load_in_time
from exporter.listener import DEFAULT_MAX_CONNECTIONS, raise_fd_limit
from exporter.logsetup import FORMATS, LEVELS, bind, configure
from exporter.redaction import redact_url
from exporter.sharding import Shard, parse_shard
from exporter.validation import ConfigError
from exporter.web import WebSecurity, describe, load_web_config

# Chosen from the free part of Prometheus' default port allocations; documented in README.
DEFAULT_PORT = 10091
EXIT_CONFIG = 2
DEMO_SCENARIO_ACCOUNT = "demo-hedge"

log = structlog.get_logger("exporter")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="binance-pm-exporter",
        description="Prometheus exporter for Binance Portfolio Margin accounts.",
    )
    p.add_argument(
        "--config.file",
        dest="config_file",
        default="config.yaml",
        help="path to the YAML configuration (default: %(default)s)",
    )
    p.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the configuration, print a summary and exit",
    )
    p.add_argument(
        "--config.plan",
        dest="config_plan",
        action="store_true",
        help="print the weight per account and collector of every account in the file, the "
        "busiest shard for each --shard.count and the smallest count that fits the budget, "
        "then exit",
    )
    p.add_argument(
        "--config.skip-secrets",
        dest="config_skip_secrets",
        action="store_true",
        help="with --config.check or --config.plan: list the secret files that cannot be read "
        "(not on this machine) as skipped instead of refusing the configuration",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=f":{DEFAULT_PORT}",
        help="address to listen on (default: %(default)s)",
    )
    p.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        default="/metrics",
        help="path under which to expose metrics (default: %(default)s)",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default="",
        help="exporter-toolkit web configuration: TLS, client certificates, basic auth, "
        "headers (default: none, plain HTTP)",
    )
    p.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="enable POST /-/reload (SIGHUP always reloads)",
    )
    p.add_argument(
        "--web.max-connections",
        dest="max_connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help="most client connections kept open at once; lowered to keep file descriptors for "
        "polling; at the cap the longest-idle connection is closed (default: %(default)s)",
    )
    p.add_argument(
        "--shard.count",
        dest="shard_count",
        default="1",
        help="replicas the config's accounts are spread over (default: %(default)s, no sharding)",
    )
    p.add_argument(
        "--shard.index",
        dest="shard_index",
        default="0",
        help="this replica's shard, 0-based: a number, or a pod name whose trailing -N is the "
        "ordinal (a StatefulSet pod's name) (default: %(default)s)",
    )
    p.add_argument("--log.level", dest="log_level", choices=list(LEVELS), default="info")
    p.add_argument("--log.format", dest="log_format", choices=list(FORMATS), default="logfmt")
    p.add_argument(
        "--demo",
        action="store_true",
        help="run against a built-in simulator with sample accounts (no keys needed)",
    )
    p.add_argument(
        "--demo.scenario",
        dest="demo_scenario",
        choices=["none", "falling-uni-mmr"],
        default="none",
        help="with --demo: drive demo-hedge's uniMMR down through 1.5, 1.2 and 1.05",
    )
    p.add_argument(
        "--demo.scenario-seconds",
        dest="demo_scenario_seconds",
        type=float,
        default=600.0,
        help="with --demo: how long the scenario's fall takes",
    )
    p.add_argument("--version", action="version", version=f"binance-pm-exporter {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure(args.log_level, args.log_format)
    flag_error = _invalid_flag(args)
    if flag_error is not None:
        log.error("invalid flag", error=flag_error)
        return EXIT_CONFIG
    try:
        web_security = _web_security(args.web_config_file)
    except ConfigError as exc:
        log.error("invalid web configuration", file=args.web_config_file, error=str(exc))
        return EXIT_CONFIG
    if args.demo:
        return asyncio.run(_run_demo(args, web_security))
    if args.config_plan:
        return _plan(args.config_file, args.config_skip_secrets)
    shard = parse_shard(args.shard_count, args.shard_index)
    _log_the_shard(shard)
    skip = args.config_skip_secrets
    try:
        config = load_in_time(
            partial(load_config, args.config_file, shard=shard, skip_secrets=skip),
            "config file",
            args.config_file,
        )
    except ConfigError as exc:
        log.error("invalid configuration", error=str(exc))
        return EXIT_CONFIG
    for warning in config.warnings:
        log.warning("insecure secret file", detail=warning)
    if config.polling.interval_auto:
        log.info(
            "poll interval chosen to fit the weight budget",
            poll_interval_seconds=config.polling.interval_seconds,
            planned_weight_per_minute=round(config.planned_weight_per_minute(), 1),
            max_weight_per_minute=config.polling.max_weight_per_minute,
        )
    if args.config_check:
        print(f"configuration {args.config_file} is valid\n{config.summary()}")
        if shard is not None:
            print(shard.describe(config.accounts_configured, len(config.accounts)))
        _print_skipped(config)
        return 0
    return asyncio.run(
        _serve(config, args, config_path=args.config_file, web_security=web_security, shard=shard)
    )


def _log_the_shard(shard: Shard | None) -> None:
    """Every later line says which shard logged it (replicas' logs are read merged)."""
    if shard is not None:
        bind(shard=shard.index)


def _plan(path: str, skip_secrets: bool) -> int:
    """--config.plan: every account of the file, however many shards it takes."""
    try:
        config = load_in_time(
            partial(load_config, path, planning=True, skip_secrets=skip_secrets),
            "config file",
            path,
        )
    except ConfigError as exc:
        log.error("invalid configuration", error=str(exc))
        return EXIT_CONFIG
    print(f"configuration {path}: the plan\n{capacity_plan(config)}")
    _print_skipped(config)
    return 0


def _print_skipped(config: Config) -> None:
    """What --config.skip-secrets passed over: those files are still to be checked where the
    exporter runs."""
    if config.skipped_secrets:
        print(
            f"skipped {len(config.skipped_secrets)} secret files that cannot be read here "
            "(--config.skip-secrets):"
        )
        for line in config.skipped_secrets:
            print(f"  - {line}")


def _invalid_flag(args: argparse.Namespace) -> str | None:
    """What is wrong with the --web.* flags that argparse alone cannot check, if anything."""
    try:
        parse_listen_address(args.listen_address)
    except ListenAddressError as exc:
        return str(exc)
    if not args.telemetry_path.startswith("/"):
        return "--web.telemetry-path must start with '/'"
    if args.max_connections < 1:
        return "--web.max-connections must be at least 1"
    try:
        shard = parse_shard(args.shard_count, args.shard_index)
    except ConfigError as exc:
        return str(exc)
    if args.config_skip_secrets and not (args.config_check or args.config_plan):
        return "--config.skip-secrets needs --config.check or --config.plan (it never serves)"
    if shard is not None and args.demo:
        return "--shard.count cannot be used with --demo (the demo has one simulator)"
    return None


def _web_security(path: str | None) -> WebSecurity | None:
    """TLS and basic auth from --web.config.file; None without one."""
    if not path:
        return None
    web_config = load_in_time(partial(load_web_config, path), "web config file", path)
    for warning in web_config.warnings:
        log.warning("web configuration", detail=warning)
    log.info("web configuration loaded", file=web_config.path, **describe(web_config))
    return WebSecurity(web_config)


async def _serve(
    config: Config,
    args: argparse.Namespace,
    *,
    config_path: str | None = None,
    web_security: WebSecurity | None = None,
    shard: Shard | None = None,
) -> int:
    soft, hard = raise_fd_limit()
    log.debug("open files limit", soft=soft, hard=hard)
    exporter = Exporter(
        config,
        listen_address=args.listen_address,
        telemetry_path=args.telemetry_path,
        config_path=config_path,
        web_security=web_security,
        max_connections=args.max_connections,
        enable_lifecycle=args.enable_lifecycle,
        shard=shard,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task] = set()

    def on_sighup() -> None:
        task = loop.create_task(exporter.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    # Start-up waits for the first clock measurement (up to the request timeout): SIGTERM must
    # not wait for it.
    starting = asyncio.create_task(exporter.start(), name="start")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
    if starting.done():
        try:
            starting.result()
        except OSError as exc:
            log.error("cannot listen", address=args.listen_address, error=exc.strerror or str(exc))
            stopping.cancel()
            await exporter.stop()
            return 1
        await stopping
    else:
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
    log.info("shutting down")
    await exporter.stop()
    return 0


async def _run_demo(args: argparse.Namespace, web_security: WebSecurity | None) -> int:
    # Imported here only: the simulator is never part of the normal path.
    from exporter.simulator.demo import start_demo

    simulator, config = await start_demo()
    if args.demo_scenario == "falling-uni-mmr":
        simulator.falling_uni_mmr(DEMO_SCENARIO_ACCOUNT, args.demo_scenario_seconds)
        log.info(
            "demo scenario: uniMMR falls from 2.0 to 1.0",
            account=DEMO_SCENARIO_ACCOUNT,
            seconds=args.demo_scenario_seconds,
        )
    log.info(
        "demo mode: polling the built-in simulator",
        base_url=redact_url(config.client.base_url),
        accounts=[a.name for a in config.accounts],
    )
    try:
        return await _serve(config, args, web_security=web_security)
    finally:
        await simulator.stop()


if __name__ == "__main__":
    sys.exit(main())
