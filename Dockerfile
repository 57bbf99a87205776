# vegsales: the weekly vegetable sales API. One image for the three backends, chosen by environment:
#   docker build -t vegsales .
#   docker run -p 8000:8000 -v vegsales-data:/data vegsales                                   # SQLite
#   docker run -p 8000:8000 -v vegsales-data:/data -e VEGSALES_BACKEND=csv vegsales           # CSV
#   docker run -p 8000:8000 -e VEGSALES_DATABASE_URL=postgresql://user:pw@host:5432/db vegsales  # PostgreSQL
# Two stages: a virtualenv is built in the first and copied alone into the second,
# so the runtime image holds no source tree, build cache or build tools.
# PYTHON_IMAGE: the base of both stages; `make docker-test` on a machine without a registry passes a local
# stand-in (.ci/provision-containers: Debian's python3 3.11 on a debootstrap root, not the official image).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
RUN python -m venv /opt/venv

# Dependencies first, read from pyproject.toml (the runtime ones and the `postgres` and `forecast` extras, not `dev`):
# this layer stays cached while only src/ changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres'] + p['optional-dependencies']['forecast']))" \
    > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt

# Then the package itself (its dependencies, postgres extra included, are installed above). README.md is optional:
# the glob may match nothing, which is allowed because pyproject.toml (unchanged, so still cached) is in the same COPY.
COPY pyproject.toml README.m[d] ./
COPY src/ ./src/
# pip and setuptools are not needed at run time (about 25 MB): removed from the venv once it is built.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools \
    && /opt/venv/bin/python -c "import vegsales.api, vegsales.storage.sqlite, vegsales.storage.csv, vegsales.storage.postgres" \
    && /opt/venv/bin/vegsales serve --help >/dev/null


FROM ${PYTHON_IMAGE}

# `vegsales serve` reads every option from VEGSALES_* (see the README's table); these are the image's defaults:
# SQLite in /data/sales.db, or CSV in /data/csv with VEGSALES_BACKEND=csv, both on the volume.
# The SQLite default is given as VEGSALES_DATABASE_URL, not VEGSALES_DB: both feed --db and VEGSALES_DB wins,
# so `-e VEGSALES_DATABASE_URL=postgresql://...` and `-e VEGSALES_DB=...` both override it (a postgresql:// URL
# selects the postgres backend even with VEGSALES_BACKEND=sqlite). A default in VEGSALES_DB would silently
# shadow a VEGSALES_DATABASE_URL given at run time. The healthcheck follows VEGSALES_PORT.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VEGSALES_BACKEND=sqlite \
    VEGSALES_HOST=0.0.0.0 \
    VEGSALES_PORT=8000 \
    VEGSALES_DATABASE_URL=/data/sales.db \
    VEGSALES_DATA_DIR=/data/csv \
    VEGSALES_LOG_FORMAT=json

RUN groupadd --system --gid 10001 vegsales \
    && useradd --system --uid 10001 --gid vegsales --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin vegsales \
    && mkdir -p /data \
    && chown vegsales:vegsales /data

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The CMD is the `vegsales` console script; app_sql.py and app_csv.py (optional: the glob keeps COPY from
# failing when it is absent) stay for `docker run vegsales python /app/app_csv.py ...`.
COPY app_sql.py app_csv.p[y] ./

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('VEGSALES_PORT', '8000'), timeout=4)"]

# Exec form: the server is PID 1 and receives SIGTERM from `docker stop` directly (uvicorn shuts down cleanly).
# No flags here: a flag would override its VEGSALES_* variable, so everything stays configurable with `-e`.
CMD ["vegsales", "serve"]
