"""``python -m mixin [--config FILE] [--out DIR] [--check]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mixin import config as mixin_config
from mixin.generate import REPO, stale, write


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mixin", description=__doc__)
    p.add_argument("--config", type=Path, help="YAML overrides of mixin/config.py's defaults")
    p.add_argument("--out", type=Path, default=REPO, help="directory to write under (the repo)")
    p.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = p.parse_args(argv)
    try:
        config = mixin_config.load(args.config) if args.config else mixin_config.MixinConfig()
    except (OSError, mixin_config.MixinConfigError) as exc:
        print(f"mixin config: {exc}", file=sys.stderr)
        return 2
    if args.check:
        out_of_date = stale(config, args.out)
        for path in out_of_date:
            print(f"{path} is out of date: run make mixin", file=sys.stderr)
        return 1 if out_of_date else 0
    for path in write(config, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
