#!/usr/bin/env bash
# End-to-end test of the vegsales container image: build it, run it on a named volume, drive the API,
# restart on the same volume, check the data survived; then run the same image as the CSV app
# (VEGSALES_BACKEND=csv) on that volume, and check that VEGSALES_DATABASE_URL=postgresql://... selects
# PostgreSQL (its driver is in the image). Exits non-zero with a FAIL: line on any failure.
#
#   bash docker/test.sh
#
# Engine: `docker` when a Docker engine answers (`docker info`), else podman (or VEGSALES_ENGINE=docker|podman).
# With podman and no registry (as on the project's machines) it first sets up, once and idempotently:
# podman, runc and debootstrap from apt; a containers.conf (runc, ulimits) under
# ${XDG_CACHE_HOME:-$HOME/.cache}/vegsales-podman; a Debian base image `localbase:bookworm` made with
# debootstrap; and from it a stand-in tagged docker.io/library/python:3.11-slim (Debian's python3 and pip,
# not the official image) so the unchanged Dockerfile builds. Later runs reuse all of that.
# Containers and the volume are removed on exit; images (vegsales:test and the bases) are kept for speed.
set -Eeuo pipefail

START=$SECONDS
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

IMAGE=${VEGSALES_TEST_IMAGE:-vegsales:test}
RUN_ID=$$
CONTAINER_1=vegsales-test-$RUN_ID-a
CONTAINER_2=vegsales-test-$RUN_ID-b
CONTAINER_CSV=vegsales-test-$RUN_ID-csv
CONTAINER_PG=vegsales-test-$RUN_ID-pg
VOLUME=vegsales-test-data-$RUN_ID
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/vegsales-podman
BASE_IMAGE=localhost/localbase:bookworm
PYTHON_IMAGE=docker.io/library/python:3.11-slim
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

PASSED=0
CONTAINERS=()
VOLUME_CREATED=
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vegsales-docker-test.XXXXXX")

# shellcheck source=docker/common.sh
source "$(dirname "$0")/common.sh"
# Runs a command with its output in a log file; on failure shows the log's tail and fails with $1.
logged() {
    local message=$1 log=$WORK/$2
    shift 2
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2 || true
        fail "$message (command: $*)"
    fi
}

cleanup() {
    local status=$? name
    trap - EXIT
    for name in "${CONTAINERS[@]}"; do
        if [[ $status -ne 0 ]] && "$ENGINE" container inspect "$name" >/dev/null 2>&1; then
            printf -- '--- last log lines of %s ---\n' "$name" >&2
            "$ENGINE" logs --tail 30 "$name" >&2 2>&1 || true
        fi
        remove_container "$name"
    done
    if [[ -n $VOLUME_CREATED ]]; then
        "$ENGINE" volume rm -f "$VOLUME" >/dev/null 2>&1 || echo "warning: could not remove volume $VOLUME" >&2
    fi
    rm -rf "$WORK"
    exit "$status"
}
ENGINE=
trap cleanup EXIT
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

remove_container() {
    if [[ $ENGINE == podman ]]; then
        podman rm -f -v -t 0 "$1" >/dev/null 2>&1 || true
    else
        docker rm -f -v "$1" >/dev/null 2>&1 || true
    fi
}

command -v python3 >/dev/null || fail "python3 is needed on the host to check the API's answers"

# ---------------------------------------------------------------------------------------------- engine
choose_engine() {
    if [[ -n ${VEGSALES_ENGINE:-} ]]; then
        ENGINE=$VEGSALES_ENGINE
    elif command -v docker >/dev/null 2>&1 && ! docker --version 2>/dev/null | grep -qi podman \
        && timeout 20 docker info >/dev/null 2>&1; then
        ENGINE=docker  # (a `docker` that is podman's shim goes the podman way, which sets podman up)
    else
        ENGINE=podman
    fi
    case $ENGINE in
        docker) timeout 20 docker info >/dev/null 2>&1 || fail "VEGSALES_ENGINE=docker but no Docker engine answers" ;;
        podman) setup_podman ;;
        *) fail "unknown engine '$ENGINE' (docker or podman)" ;;
    esac
}

setup_podman() {
    local tool missing=()
    for tool in podman runc debootstrap; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        [[ $(id -u) -eq 0 ]] || fail "no Docker engine answers and ${missing[*]} cannot be installed: apt-get needs root (install them, or run as root)"
        command -v apt-get >/dev/null 2>&1 || fail "no Docker engine answers and ${missing[*]} cannot be installed: no apt-get here"
        say "installing ${missing[*]} with apt-get (no Docker engine answers)"
        logged "cannot install the container tooling: apt-get update failed" apt.log apt-get update
        logged "cannot install the container tooling: apt-get install ${missing[*]} failed" apt-install.log \
            env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends podman runc debootstrap
        for tool in podman runc debootstrap; do
            command -v "$tool" >/dev/null 2>&1 || fail "cannot install the container tooling: $tool still missing after apt-get"
        done
    fi

    mkdir -p "$CACHE"
    # Serialise the one-time set-up between concurrent runs.
    exec 9>"$CACHE/setup.lock"
    flock 9

    # crun refuses this kernel's mixed cgroup set-up, and the shell cannot raise the limits podman asks for.
    # Docker image format (v2s2) for builds: OCI, podman's default, drops HEALTHCHECK.
    cat >"$CACHE/containers.conf.new" <<'EOF'
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
[engine]
runtime = "runc"
image_default_format = "v2s2"
EOF
    if cmp -s "$CACHE/containers.conf.new" "$CACHE/containers.conf"; then
        rm -f "$CACHE/containers.conf.new"
    else
        mv "$CACHE/containers.conf.new" "$CACHE/containers.conf"
    fi
    export CONTAINERS_CONF=$CACHE/containers.conf
    logged "podman does not work here (podman info failed)" podman-info.log podman info

    if ! podman image exists "$BASE_IMAGE"; then
        build_base_image
    fi
    if ! podman image exists "$PYTHON_IMAGE"; then
        build_python_standin
    elif [[ $(podman image inspect --format '{{index .Labels "org.vegsales.standin"}}' "$PYTHON_IMAGE" 2>/dev/null) == true ]]; then
        say "using the local stand-in for $PYTHON_IMAGE (Debian's python3, built from $BASE_IMAGE)"
    fi
    flock -u 9
}

# Copies the host's CA certificates (public certificates only) into a root filesystem so that HTTPS,
# pip's in particular, works inside builds where TLS goes through the host's trusted CAs.
copy_host_certificates() {
    local rootfs=$1
    mkdir -p "$rootfs/usr/local/share/ca-certificates" "$rootfs/etc/ssl/certs"
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    fi
    if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
        cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    fi
}

build_base_image() {
    [[ $(id -u) -eq 0 ]] || fail "cannot build $BASE_IMAGE: debootstrap needs root"
    local rootfs=$CACHE/rootfs
    say "building $BASE_IMAGE with debootstrap from $DEBIAN_MIRROR (one time, about a minute)"
    rm -rf "$rootfs"
    logged "cannot build $BASE_IMAGE: debootstrap failed" debootstrap.log \
        debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    copy_host_certificates "$rootfs"
    tar -C "$rootfs" -c . | podman import --message "debootstrap minbase bookworm" - "$BASE_IMAGE" >"$WORK/import.log" 2>&1 \
        || { tail -n 20 "$WORK/import.log" >&2; fail "cannot import $BASE_IMAGE"; }
    rm -rf "$rootfs"
}

build_python_standin() {
    local context=$CACHE/python-standin
    say "building a stand-in for $PYTHON_IMAGE from $BASE_IMAGE (one time; no registry to pull from)"
    rm -rf "$context"
    mkdir -p "$context/certs"
    copy_host_certificates "$context/certs"
    # Only what pip needs to reach PyPI from inside builds: the CA bundle. The host's other pip settings
    # (local find-links, file:// indexes, constraints) point at files that exist only on the host.
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$context/pip.conf"
    cat >"$context/Containerfile" <<EOF
FROM $BASE_IMAGE
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        python3 python3-pip python3-venv python-is-python3 ca-certificates \\
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY certs/ /
COPY pip.conf /etc/pip.conf
ENV LANG=C.UTF-8 PIP_BREAK_SYSTEM_PACKAGES=1
LABEL org.vegsales.standin=true
CMD ["python3"]
EOF
    logged "cannot build the $PYTHON_IMAGE stand-in" standin-build.log \
        podman build --format docker --network host --pull=never -t "$PYTHON_IMAGE" "$context"
}

# ------------------------------------------------------------------------------------------- helpers
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_check LABEL METHOD PATH STATUS EXPECTED_JSON [BODY]: the answer's status and JSON must equal the expected.
http_check() {
    python3 - "$BASE_URL" "$@" <<'PY' || fail "$1: unexpected answer from $2 $3"
import json, sys, urllib.error, urllib.request

base, label, method, path, status, expected = sys.argv[1:7]
body = sys.argv[7].encode() if len(sys.argv) > 7 else None
request = urllib.request.Request(base + path, data=body, method=method)
if body is not None:
    request.add_header("Content-Type", "application/json")
try:
    with urllib.request.urlopen(request, timeout=15) as response:
        got_status, text = response.status, response.read().decode()
except urllib.error.HTTPError as error:
    got_status, text = error.code, error.read().decode()
try:
    got = json.loads(text)
except ValueError:
    got = text
want = json.loads(expected)
if got_status != int(status) or got != want:
    print(f"  {method} {path}: expected HTTP {status} with\n    {json.dumps(want)}\n  got HTTP {got_status} with\n    {text}",
          file=sys.stderr)
    sys.exit(1)
PY
    ok "$1"
}

# run_container NAME [-e VAR=VALUE...]: the image with its own CMD, the volume on /data, extra options after NAME.
run_container() {
    local name=$1
    shift
    CONTAINERS+=("$name")
    if [[ $ENGINE == podman ]]; then
        # Host network (all traffic on loopback), on a free port given through the image's VEGSALES_* variables.
        logged "cannot start container $name" "run-$name.log" \
            podman run -d --name "$name" --network host \
            -e VEGSALES_HOST=127.0.0.1 -e VEGSALES_PORT="$PORT" "$@" -v "$VOLUME:/data" "$IMAGE"
    else
        logged "cannot start container $name" "run-$name.log" \
            docker run -d --name "$name" -p "127.0.0.1:$PORT:8000" "$@" -v "$VOLUME:/data" "$IMAGE"
    fi
}

# check_pid1 NAME: PID 1 is `vegsales serve` itself (exec-form CMD), not a shell.
check_pid1() {
    local name=$1 pid1
    pid1=$("$ENGINE" exec "$name" cat /proc/1/cmdline | tr '\0' ' ') || fail "cannot read PID 1 in $name"
    [[ $pid1 == *python*/vegsales\ serve* ]] || fail "PID 1 of $name is '$pid1', not the server (CMD must be exec form)"
    ok "PID 1 of $name is the server: $pid1"
}

wait_healthy() {
    local name=$1 tries=120 state t0=$EPOCHREALTIME
    for ((i = 0; i < tries; i++)); do
        state=$("$ENGINE" container inspect --format '{{.State.Status}}' "$name" 2>/dev/null || echo gone)
        [[ $state == running || $state == created ]] || fail "container $name stopped while starting (state: $state)"
        if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/health", timeout=2)' \
            "$BASE_URL" >/dev/null 2>&1; then
            ok "$name answers /health after $(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$t0" "$EPOCHREALTIME")s"
            return
        fi
        sleep 0.25
    done
    fail "container $name did not answer $BASE_URL/health within 30s"
}

# The container has the image's HEALTHCHECK, and it passes (run by podman, or exec'd under docker).
check_healthcheck() {
    local name=$1 test
    test=$("$ENGINE" container inspect "$name" | python3 -c 'import json, sys
test = ((json.load(sys.stdin)[0]["Config"].get("Healthcheck") or {}).get("Test") or [])
print(json.dumps(test) if test[:1] == ["CMD"] and "/health" in " ".join(test) else "")')
    [[ -n $test ]] || fail "$name has no exec-form HEALTHCHECK calling /health"
    if [[ $ENGINE == podman ]]; then
        podman healthcheck run "$name" >/dev/null 2>&1 || fail "the image's HEALTHCHECK fails in $name"
    else
        mapfile -t argv < <(python3 -c 'import json, sys; print("\n".join(json.loads(sys.argv[1])[1:]))' "$test")
        docker exec "$name" "${argv[@]}" >/dev/null 2>&1 || fail "the image's HEALTHCHECK fails in $name"
    fi
    ok "the image's HEALTHCHECK (python urllib on /health) passes in $name"
}

stop_container() {
    local name=$1 t0=$SECONDS code
    logged "cannot stop $name" "stop-$name.log" "$ENGINE" stop -t 20 "$name"
    code=$("$ENGINE" container inspect --format '{{.State.ExitCode}}' "$name") || fail "cannot inspect $name"
    ((SECONDS - t0 < 15)) || fail "$name took $((SECONDS - t0))s to stop: SIGTERM does not reach the server"
    [[ $code == 0 ]] || fail "$name exited with code $code on SIGTERM (expected a clean 0)"
    ok "$name stopped cleanly on SIGTERM in $((SECONDS - t0))s (exit code 0)"
    remove_container "$name"
}

# ---------------------------------------------------------------------------------------------- test
choose_engine
say "engine: $ENGINE ($("$ENGINE" --version))"

say "building $IMAGE"
build_t0=$SECONDS
previous_id=$("$ENGINE" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if [[ $ENGINE == podman ]]; then
    # Docker image format keeps HEALTHCHECK (OCI format drops it).
    logged "the image does not build" build.log \
        podman build --format docker --network host --pull=never -t "$IMAGE" .
else
    logged "the image does not build" build.log docker build -t "$IMAGE" .
fi
ok "image $IMAGE built in $((SECONDS - build_t0))s"
# The image this build replaced (now untagged) goes, so that rebuilds do not pile up; the layer cache stays.
if [[ -n $previous_id && $previous_id != "$("$ENGINE" image inspect --format '{{.Id}}' "$IMAGE")" ]]; then
    "$ENGINE" image rm "$previous_id" >/dev/null 2>&1 || true
fi

say "checking the image's configuration"
"$ENGINE" image inspect "$IMAGE" >"$WORK/image.json" || fail "cannot inspect $IMAGE"
python3 - "$WORK/image.json" <<'PY' || fail "the image's configuration is not as expected"
import json, sys

image = json.load(open(sys.argv[1]))[0]
config = image["Config"]
problems = []
user = (config.get("User") or "").split(":")[0]
if user in ("", "0", "root"):
    problems.append(f"runs as root (User={config.get('User')!r})")
cmd = config.get("Cmd") or []
if not cmd or cmd[:2] == ["/bin/sh", "-c"] or config.get("Entrypoint"):
    problems.append(f"CMD is not a plain exec-form command: Cmd={cmd} Entrypoint={config.get('Entrypoint')}")
if "/data" not in (config.get("Volumes") or {}):
    problems.append(f"no VOLUME /data: {config.get('Volumes')}")
if "8000/tcp" not in (config.get("ExposedPorts") or {}):
    problems.append(f"port 8000 not exposed: {config.get('ExposedPorts')}")
if cmd != ["vegsales", "serve"]:
    problems.append(f"CMD is {cmd}, expected the flag-less ['vegsales', 'serve'] (configured by VEGSALES_*)")
env = dict(item.split("=", 1) for item in config.get("Env") or [])
# The SQLite default is in VEGSALES_DATABASE_URL: a VEGSALES_DB default would shadow a run-time VEGSALES_DATABASE_URL.
expected_env = {"VEGSALES_BACKEND": "sqlite", "VEGSALES_HOST": "0.0.0.0", "VEGSALES_PORT": "8000",
                "VEGSALES_DATABASE_URL": "/data/sales.db", "VEGSALES_DATA_DIR": "/data/csv"}
wrong = {name: env.get(name) for name, value in expected_env.items() if env.get(name) != value}
if wrong or "VEGSALES_DB" in env:
    problems.append(f"VEGSALES_* defaults differ from {expected_env} (and no VEGSALES_DB): {wrong or env}")
# Docker keeps the healthcheck in Config, podman beside it.
# (podman 4's Docker API leaves the image's healthcheck out of `docker image inspect`: when it is missing
# here, check_healthcheck still requires it on the running container.)
health = (config.get("Healthcheck") or image.get("Healthcheck") or {}).get("Test")
if health is not None and "/health" not in " ".join(health):
    problems.append(f"HEALTHCHECK does not call /health: {health}")
for problem in problems:
    print("  " + problem, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
ok "image config: non-root USER, exec-form CMD vegsales serve, VEGSALES_* defaults, VOLUME /data, EXPOSE 8000"

PORT=$(free_port)
BASE_URL=http://127.0.0.1:$PORT
logged "cannot create volume $VOLUME" volume.log "$ENGINE" volume create "$VOLUME"
VOLUME_CREATED=1

say "first container on volume $VOLUME, port $PORT"
run_container "$CONTAINER_1"
wait_healthy "$CONTAINER_1"
check_healthcheck "$CONTAINER_1"

uid=$("$ENGINE" exec "$CONTAINER_1" id -u) || fail "cannot run id in $CONTAINER_1"
[[ $uid =~ ^[0-9]+$ && $uid -ne 0 ]] || fail "the container runs as uid '$uid' (expected non-root)"
ok "the container runs as uid $uid (non-root)"
check_pid1 "$CONTAINER_1"

RECORDS='[{"date":"2020-01-27","vegetable":"Tomate","kilo_sold":70},{"date":"2020-01-27","vegetable":"Poire","kilo_sold":14},{"date":"2021-02-29","vegetable":"Tomate","kilo_sold":1}]'
REPORT='{"received":3,"inserted":2,"updated":0,"unchanged":0,"rejected":[{"index":2,"errors":[{"field":"date","message":"'"'"'2021-02-29'"'"' is not a real calendar date"}]}],"warnings":[]}'
RAW='[{"date":"2020-01-27","vegetable":"Poire","kilo_sold":14},{"date":"2020-01-27","vegetable":"Tomate","kilo_sold":70}]'
MONTHLY='[{"year_month":"2020-01","vegetable":"pear","kilo_sold":10,"is_outlier":false},
          {"year_month":"2020-01","vegetable":"tomato","kilo_sold":50,"is_outlier":false},
          {"year_month":"2020-02","vegetable":"pear","kilo_sold":4,"is_outlier":false},
          {"year_month":"2020-02","vegetable":"tomato","kilo_sold":20,"is_outlier":false}]'

http_check "/init_database creates the tables" POST /init_database 200 \
    '{"status":"ok","tables":["bronze_sales","silver_sales","gold_sales","rejected_sales"]}'
http_check "/post_sales stores the 2 valid records and reports the invalid one" POST /post_sales 200 "$REPORT" "$RECORDS"
http_check "/get_raw_sales returns the records as received" GET /get_raw_sales 200 "$RAW"
http_check "/get_monthly_sales splits the week across months, canonical names" GET /get_monthly_sales 200 "$MONTHLY"

db_owner=$("$ENGINE" exec "$CONTAINER_1" stat -c %u /data/sales.db) || fail "no /data/sales.db in $CONTAINER_1"
[[ $db_owner == "$uid" ]] || fail "/data/sales.db is owned by uid $db_owner, not $uid"
ok "the database is /data/sales.db on the volume, owned by uid $uid"

stop_container "$CONTAINER_1"

say "second container on the same volume"
run_container "$CONTAINER_2"
wait_healthy "$CONTAINER_2"
http_check "raw sales survived the restart" GET /get_raw_sales 200 "$RAW"
http_check "monthly sales survived the restart" GET /get_monthly_sales 200 "$MONTHLY"
stop_container "$CONTAINER_2"

say "the same image as the CSV app (VEGSALES_BACKEND=csv), same volume"
run_container "$CONTAINER_CSV" -e VEGSALES_BACKEND=csv
wait_healthy "$CONTAINER_CSV"
check_pid1 "$CONTAINER_CSV"
http_check "the CSV app starts empty (the SQLite data are not its own)" GET /get_raw_sales 200 '[]'
http_check "CSV: /post_sales stores the 2 valid records and reports the invalid one" POST /post_sales 200 "$REPORT" "$RECORDS"
http_check "CSV: /get_raw_sales returns the records as received" GET /get_raw_sales 200 "$RAW"
http_check "CSV: /get_monthly_sales is the same as on SQLite" GET /get_monthly_sales 200 "$MONTHLY"
csv_owner=$("$ENGINE" exec "$CONTAINER_CSV" stat -c %u /data/csv/bronze.csv) || fail "no /data/csv/bronze.csv in $CONTAINER_CSV"
[[ $csv_owner == "$uid" ]] || fail "/data/csv/bronze.csv is owned by uid $csv_owner, not $uid"
bronze=$("$ENGINE" exec "$CONTAINER_CSV" cat /data/csv/bronze.csv | cut -d, -f1-4) || fail "cannot read /data/csv/bronze.csv"
[[ $bronze == $'date,vegetable,kilo_sold,week_start\n2020-01-27,Poire,14.0,2020-01-27\n2020-01-27,Tomate,70.0,2020-01-27' ]] \
    || fail "/data/csv/bronze.csv holds unexpected rows: $bronze"
"$ENGINE" exec "$CONTAINER_CSV" test -f /data/sales.db || fail "/data/sales.db is gone from the volume"
ok "the CSV files are in /data/csv on the volume, owned by uid $uid, beside the untouched /data/sales.db"
stop_container "$CONTAINER_CSV"

say "VEGSALES_DATABASE_URL=postgresql://... selects PostgreSQL"
# No server listens on port 1: the store fails at once, and its message shows which backend and URL were taken
# (and that the PostgreSQL driver is installed). A live PostgreSQL is served in docker/topology-test.sh (no containers).
CONTAINERS+=("$CONTAINER_PG")
pg_url=postgresql://vegsales@127.0.0.1:1/vegsales
pg_status=0
timeout 60 "$ENGINE" run --name "$CONTAINER_PG" -e VEGSALES_DATABASE_URL="$pg_url" "$IMAGE" >"$WORK/pg.log" 2>&1 \
    || pg_status=$?
# (The store names the URL in libpq's key=value form, password left out.)
pg_error=$(grep -m 1 "^error: cannot open PostgreSQL database .*host=127.0.0.1 port=1:" "$WORK/pg.log" || true)
[[ -n $pg_error && $pg_status == 1 ]] \
    || { tail -n 20 "$WORK/pg.log" >&2; fail "VEGSALES_DATABASE_URL did not select PostgreSQL (exit $pg_status)"; }
ok "VEGSALES_DATABASE_URL overrides the SQLite default and selects PostgreSQL (${pg_error%%: connection failed*})"
remove_container "$CONTAINER_PG"

size=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE") || fail "cannot inspect $IMAGE"
say "PASS: $IMAGE ($ENGINE) — image size $((size / 1000000)) MB, elapsed $((SECONDS - START))s"
printf 'docker/test.sh: %d passed, 0 failed\n' "$PASSED"
