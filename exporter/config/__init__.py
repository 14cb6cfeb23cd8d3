"""The exporter's configuration: load the YAML safely, validate it into frozen objects, plan it.

``model``     the frozen objects (``Config`` and its sections, ``AccountConfig``, ``Secret``)
``parse``     the entry (``load_config``, ``parse_config``): ${VAR} expansion and every key
``accounts``  key material: secrets, ``*_file`` reads and their permission warnings, signers
``plan``      the weight plan: weights, the ``auto`` interval, keepalives, early-poll headroom

Below this package, so that the web configuration and the stream and shard keys can use them
without importing it: ``exporter.validation`` (the one ``ConfigError`` and the typed getters)
and ``exporter.files`` (bounded reads, safe YAML, load deadlines). Their names are re-exported
here for the callers above.
"""

from exporter.config.accounts import MAX_SECRET_BYTES, make_signer
from exporter.config.model import (
    STALE_INTERVALS,
    AccountConfig,
    ClientSettings,
    CollectorEntry,
    Config,
    PollingSettings,
    PositionSettings,
    SapiSettings,
    Secret,
)
from exporter.config.parse import (
    ACCOUNT_KEYS,
    ENV_NAME_RE,
    ENV_RE,
    MAX_RECV_WINDOW_MS,
    NAME_RE,
    TOP_KEYS,
    load_config,
    parse_config,
)
from exporter.config.plan import (
    AUTO_BUDGET_SHARE,
    BINANCE_WEIGHT_LIMIT,
    DEFAULT_POLL_INTERVAL,
    early_poll_budget,
    keepalive_weight,
    planned_weight,
)
from exporter.files import (
    LOAD_TIMEOUT_SECONDS,
    MAX_CONFIG_BYTES,
    MAX_YAML_DEPTH,
    ConfigLoader,
    Load,
    load_in_time,
    read_bounded,
    read_yaml,
)
from exporter.validation import ConfigError, reject_unknown

__all__ = [
    "ACCOUNT_KEYS",
    "AUTO_BUDGET_SHARE",
    "BINANCE_WEIGHT_LIMIT",
    "DEFAULT_POLL_INTERVAL",
    "ENV_NAME_RE",
    "ENV_RE",
    "LOAD_TIMEOUT_SECONDS",
    "MAX_CONFIG_BYTES",
    "MAX_RECV_WINDOW_MS",
    "MAX_SECRET_BYTES",
    "MAX_YAML_DEPTH",
    "NAME_RE",
    "STALE_INTERVALS",
    "TOP_KEYS",
    "AccountConfig",
    "ClientSettings",
    "CollectorEntry",
    "Config",
    "ConfigError",
    "ConfigLoader",
    "Load",
    "PollingSettings",
    "PositionSettings",
    "SapiSettings",
    "Secret",
    "early_poll_budget",
    "keepalive_weight",
    "load_config",
    "load_in_time",
    "make_signer",
    "parse_config",
    "planned_weight",
    "read_bounded",
    "read_yaml",
    "reject_unknown",
]
