# vegsales: the weekly vegetable sales API with SQLite storage.
#   docker build -t vegsales .
#   docker run -p 8000:8000 -v vegsales-data:/data vegsales
# Two stages: a virtualenv is built in the first and copied alone into the second,
# so the runtime image holds no source tree, build cache or build tools.

FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
RUN python -m venv /opt/venv

# Dependencies first, read from pyproject.toml: this layer stays cached while only src/ changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt

# Then the package itself (no dev extras). README.md is optional: the glob may match nothing,
# which is allowed because pyproject.toml (unchanged, so still cached) is in the same COPY.
COPY pyproject.toml README.m[d] ./
COPY src/ ./src/
# pip and setuptools are not needed at run time (about 25 MB): removed from the venv once it is built.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools \
    && /opt/venv/bin/python -c "import vegsales.api, vegsales.storage.sqlite"


FROM python:3.11-slim

# VEGSALES_* are the defaults of app_sql.py's --host/--port/--db (and of app_csv.py's --data-dir),
# so both keep their data on the volume; the healthcheck follows VEGSALES_PORT.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VEGSALES_HOST=0.0.0.0 \
    VEGSALES_PORT=8000 \
    VEGSALES_DB=/data/sales.db \
    VEGSALES_DATA_DIR=/data/csv

RUN groupadd --system --gid 10001 vegsales \
    && useradd --system --uid 10001 --gid vegsales --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin vegsales \
    && mkdir -p /data \
    && chown vegsales:vegsales /data

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# app_csv.py is optional (the glob keeps COPY from failing when it is absent).
COPY app_sql.py app_csv.p[y] ./

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('VEGSALES_PORT', '8000'), timeout=4)"]

# Exec form: python is PID 1 and receives SIGTERM from `docker stop` directly (uvicorn shuts down cleanly).
# Same as: python /app/app_sql.py --host 0.0.0.0 --port 8000 --db /data/sales.db, through the VEGSALES_* defaults
# above, so that `-e VEGSALES_PORT=...` moves both the server and the healthcheck.
CMD ["python", "/app/app_sql.py"]
