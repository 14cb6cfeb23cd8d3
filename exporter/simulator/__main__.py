"""``python -m exporter.simulator --port 8090``: the fake PAPI with the demo accounts.

Prints the base URL and each account's credentials; ``--credentials-dir`` also writes them as
files (``NAME.api_key``, ``NAME.api_secret`` or ``NAME.pem``) for a docker-compose stack, whose
exporter reads them through ``*_file`` settings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from exporter.simulator.demo import DemoCredentials, demo_accounts, demo_simulator
from exporter.simulator.server import knob_reference


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.simulator",
        description=__doc__,
        epilog="knobs (JSON keyword arguments):\n" + knob_reference(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--seed", type=int, default=1, help="seed of the price walk")
    parser.add_argument("--tick-seconds", type=float, default=1.0)
    parser.add_argument("--weight-limit", type=int, default=6000)
    parser.add_argument("--credentials-dir", type=Path, help="also write credentials here")
    return parser.parse_args(argv)


def _write(directory: Path, credentials: list[DemoCredentials]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for c in credentials:
        files = {"api_key": c.api_key.encode() + b"\n"}
        if c.api_secret is not None:
            files["api_secret"] = c.api_secret.encode() + b"\n"
        if c.private_key_pem is not None:
            files["pem"] = c.private_key_pem
        for suffix, content in files.items():
            path = directory / f"{c.name}.{suffix}"
            path.write_bytes(content)
            path.chmod(0o600)  # the exporter warns about secret files others can read


async def _serve(args: argparse.Namespace) -> None:
    accounts, credentials = demo_accounts()
    sim = demo_simulator(
        accounts, seed=args.seed, tick_seconds=args.tick_seconds, weight_limit=args.weight_limit
    )
    await sim.start(args.host, args.port)
    print(f"simulator listening on {sim.base_url} (time: {sim.time_url})")
    for c in credentials:
        print(f"\naccount {c.name}\n  api_key: {c.api_key}")
        if c.api_secret is not None:
            print(f"  api_secret: {c.api_secret}")
        if c.private_key_pem is not None:
            print("  private key (Ed25519):\n" + c.private_key_pem.decode())
    if args.credentials_dir is not None:
        _write(args.credentials_dir, credentials)
        print(f"credentials written to {args.credentials_dir}")
    sys.stdout.flush()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_parse(argv)))


if __name__ == "__main__":
    main()
