# syntax=docker/dockerfile:1
# Build stage: a wheel and its dependencies into a virtualenv that the runtime stage copies.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Dependencies from the lock (exact versions and hashes, `make lock`), so two builds of one
# commit install the same packages; then the exporter itself, without resolving anything.
COPY requirements.lock ./
RUN python -m venv /opt/exporter \
    && /opt/exporter/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY exporter ./exporter
RUN /opt/exporter/bin/pip install --no-cache-dir --no-deps .

# Runtime stage: no compilers, no pip cache, a fixed non-root uid, nothing writable needed.
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="binance-pm-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Binance Portfolio Margin accounts"
ENV PATH=/opt/exporter/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/exporter /opt/exporter
RUN groupadd --system --gid 10091 exporter \
    && useradd --system --uid 10091 --gid exporter --no-create-home --shell /usr/sbin/nologin exporter
USER 10091:10091
# Mount the config (and secret files) read-only here: docker run -v ./config.yaml:/etc/binance-pm-exporter/config.yaml:ro
WORKDIR /etc/binance-pm-exporter
EXPOSE 10091
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:10091/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["binance-pm-exporter"]
CMD ["--config.file=/etc/binance-pm-exporter/config.yaml"]
