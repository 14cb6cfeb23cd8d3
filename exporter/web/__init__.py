"""``--web.config.file``: TLS, client certificates, basic auth and response headers.

The file is the exporter-toolkit web configuration the Go exporters read
(prometheus/exporter-toolkit, docs/web-configuration.md). One module per concern: ``config``
reads and validates the file, ``tls`` makes the SSL context, ``auth`` checks basic auth, and
``security`` holds the settings in force and re-reads the file when it changes. Beside them,
``landing`` renders the landing page (``/``).
"""

from exporter.web.auth import BasicAuth
from exporter.web.config import WebConfig, describe, load_web_config, parse_web_config
from exporter.web.security import WebSecurity
from exporter.web.tls import TLSSettings

__all__ = [
    "BasicAuth",
    "TLSSettings",
    "WebConfig",
    "WebSecurity",
    "describe",
    "load_web_config",
    "parse_web_config",
]
