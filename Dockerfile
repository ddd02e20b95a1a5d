# fx-ticker: the API and the poller (FX_ROLE picks which), configured only through FX_ variables.
# Build: docker build -t fx-ticker .    Run the whole set-up: docker compose up (docker-compose.yml).

# Both stages from the same slim official image, so the venv built in the first runs unchanged in the second.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/fx-ticker
# Every dependency ships a wheel for this platform: no compiler is needed, even here. The pinned versions come
# first (requirements/app.lock, refreshed by `make lock`), in their own layer so a code change reuses it.
COPY requirements/app.lock ./requirements/
RUN /opt/fx-ticker/bin/pip install --no-cache-dir -r requirements/app.lock
COPY pyproject.toml README.md LICENSE ./
COPY app ./app
RUN /opt/fx-ticker/bin/pip install --no-cache-dir --no-deps . \
    && /opt/fx-ticker/bin/pip uninstall --yes pip

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/fx-ticker/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FX_HOST=0.0.0.0 \
    FX_PORT=8000
RUN groupadd --system --gid 10001 fx \
    && useradd --system --uid 10001 --gid fx --home-dir /srv/fx-ticker --no-create-home --shell /usr/sbin/nologin fx
COPY --from=builder /opt/fx-ticker /opt/fx-ticker
# The working directory holds ./var/ for the SQLite default (mount a volume there); PostgreSQL needs nothing.
WORKDIR /srv/fx-ticker
RUN mkdir var && chown fx:fx var
USER 10001:10001
EXPOSE 8000
# Liveness only (readiness, /ready, is for load balancers). The slim image has no curl: Python asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('FX_PORT', '8000'), timeout=4)"]
CMD ["fx-ticker", "serve"]
