"""The exporter's process-wide self metrics: the families of ``ExporterStatus`` and their lines.

``ExporterStatus`` is what their owners feed: the scheduler the client's used weight and clock
offset, the start and the reload path the plan, the accounts and the reload's outcome. The
shard families are declared in ``exporter.sharding``, build_info beside the version.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter import BUILD_INFO
from exporter.metrics import Family, render_plain
from exporter.sharding import SHARD_INDEX, SHARDS
from exporter.snapshot import ExporterStatus

USED_WEIGHT = Family(
    "binance_pm_exporter_api_used_weight_1m",
    "Last X-MBX-USED-WEIGHT-1M Binance reported: request weight used this minute by this IP.",
    (),
)
CLOCK_OFFSET = Family(
    "binance_pm_exporter_clock_offset_seconds", "Binance server time minus local time.", ()
)
PLANNED_WEIGHT = Family(
    "binance_pm_exporter_planned_weight_per_minute",
    "Request weight per minute the configured polls need.",
    (),
)
POLL_INTERVAL = Family(
    "binance_pm_exporter_poll_interval_seconds", "Interval between polls of an account.", ()
)
RELOAD_OK = Family(
    "binance_pm_exporter_config_last_reload_successful",
    "Whether the last configuration reload attempt succeeded.",
    (),
)
RELOAD_TIME = Family(
    "binance_pm_exporter_config_last_reload_success_timestamp_seconds",
    "Time of the last successful configuration load.",
    (),
)
ACCOUNTS_CONFIGURED = Family(
    "binance_pm_exporter_accounts_configured",
    "Accounts in the configuration, whichever shard owns them.",
    (),
)
ACCOUNTS_OWNED = Family(
    "binance_pm_exporter_accounts_owned",
    "Accounts this replica's shard owns and polls.",
    (),
)

# Each gauge with the status field it reads, in exposition order.
STATUS_GAUGES: tuple[tuple[Family, Callable[[ExporterStatus], float]], ...] = (
    (USED_WEIGHT, lambda s: s.used_weight_1m),
    (CLOCK_OFFSET, lambda s: s.clock_offset_seconds),
    (PLANNED_WEIGHT, lambda s: s.planned_weight_per_minute),
    (POLL_INTERVAL, lambda s: s.poll_interval_seconds),
    (RELOAD_OK, lambda s: 1.0 if s.reload_successful else 0.0),
    (RELOAD_TIME, lambda s: s.reload_success_time),
    (SHARD_INDEX, lambda s: float(s.shard_index)),
    (SHARDS, lambda s: float(s.shard_count)),
    (ACCOUNTS_CONFIGURED, lambda s: float(s.accounts_configured)),
    (ACCOUNTS_OWNED, lambda s: float(s.accounts_owned)),
)
GLOBAL_FAMILIES = (*(fam for fam, _ in STATUS_GAUGES), BUILD_INFO)


def global_sections(status: ExporterStatus) -> list[tuple[Family, list[bytes]]]:
    """Each process-wide family with its one line, in exposition order."""
    sections = [
        (fam, [render_plain(fam.name, value(status)).encode()]) for fam, value in STATUS_GAUGES
    ]
    info = render_plain(BUILD_INFO.name, 1.0, f'version="{status.version}"')
    sections.append((BUILD_INFO, [info.encode()]))
    return sections
