#!/usr/bin/env bash
# The scale-out topology of compose.postgres.yaml, tested without containers on this machine:
# two API replicas (`python app_sql.py --db postgresql://...`) on one fresh PostgreSQL database, behind
# Debian's nginx running deploy/nginx.conf (the file compose mounts), with only the lines marked
# `# topology-test:` rewritten: the upstreams api1:8000/api2:8000 become the replicas' local ports, nginx
# listens on a free local port, and logs to a temporary folder. Checks (docker/topology_check.py):
# exact answers, read-your-writes across the replicas, both replicas used, nginx's 413, then one
# replica killed (SIGKILL): GETs and POSTs still answer, each failed attempt retried on the other
# replica; and the killed replica, restarted, serves what was posted meanwhile. Also checks that
# compose.postgres.yaml and deploy/nginx.conf describe the same topology. Exits non-zero with a FAIL:
# line on any failure; everything it started (processes, nginx, database) is removed on exit.
#
#   bash docker/topology-test.sh
#
# Needs: PostgreSQL on $VEGSALES_TEST_PG (default postgresql://postgres@127.0.0.1:5432, a user that may
# create databases) and psql; the project's Python with the postgres extra, $PYTHON (default
# .venv/bin/python, made by `make install`); nginx, installed with apt-get when missing (needs root).
set -Eeuo pipefail

START=$SECONDS
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
PG_SERVER=${VEGSALES_TEST_PG:-postgresql://postgres@127.0.0.1:5432}
DATABASE=vegsales_topology_$$
DB_URL=$PG_SERVER/$DATABASE
TEMPLATE=$ROOT/deploy/nginx.conf
COMPOSE_FILE=$ROOT/compose.postgres.yaml
# The replicas take all their settings from flags; none from the caller's VEGSALES_* variables.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^VEGSALES_' || true)

PASSED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vegsales-topology.XXXXXX")
NGINX_DIR=$WORK/nginx
API_PIDS=("" "")
API_PORTS=("" "")
DATABASE_CREATED=
NGINX_STARTED=
POLICY_RC_CREATED=

# shellcheck source=docker/common.sh
source "$(dirname "$0")/common.sh"

stop_pid() {  # stop_pid PID: SIGTERM, up to 10 s, then SIGKILL
    local pid=$1
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        # A zombie (killed, not yet reaped) is gone for our purpose.
        [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]] && return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

psql_admin() {
    psql "$PG_SERVER/postgres" -X -q -v ON_ERROR_STOP=1 -At "$@"
}

cleanup() {
    local status=$? i log
    trap - EXIT ERR
    if [[ -n $NGINX_STARTED && -f $NGINX_DIR/nginx.pid ]]; then
        stop_pid "$(cat "$NGINX_DIR/nginx.pid" 2>/dev/null)"
    fi
    for i in 0 1; do
        stop_pid "${API_PIDS[$i]}"
    done
    wait 2>/dev/null || true
    if [[ $status -ne 0 ]]; then
        for log in "$WORK"/api1.log "$WORK"/api2.log "$NGINX_DIR"/error.log "$NGINX_DIR"/access.log; do
            [[ -s $log ]] || continue
            printf -- '--- last lines of %s ---\n' "${log#"$WORK"/}" >&2
            tail -n 15 "$log" >&2 || true
        done
    fi
    if [[ -n $DATABASE_CREATED ]]; then
        psql_admin -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" >/dev/null 2>&1 \
            || echo "warning: could not drop database $DATABASE" >&2
    fi
    if [[ -n $POLICY_RC_CREATED ]]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------- requirements
[[ -x $PYTHON ]] || fail "no Python at $PYTHON: run \`make install\` first, or set PYTHON=/path/to/python"
"$PYTHON" -c 'import vegsales, psycopg, psycopg_pool, yaml' 2>"$WORK/python.log" \
    || fail "$PYTHON cannot import vegsales with its postgres extra, and PyYAML (make install): $(tail -n 1 "$WORK/python.log")"
command -v psql >/dev/null || fail "psql is needed (apt-get install postgresql-client)"
psql_admin -c 'SELECT 1' >/dev/null 2>"$WORK/psql.log" \
    || fail "no PostgreSQL answers at $PG_SERVER (set VEGSALES_TEST_PG): $(head -n 1 "$WORK/psql.log")"

find_nginx() {
    NGINX=$(command -v nginx 2>/dev/null || true)
    [[ -n $NGINX ]] || { [[ -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx; } || true
}
find_nginx
if [[ -z $NGINX ]]; then
    [[ $(id -u) -eq 0 ]] || fail "nginx is not installed and cannot be: apt-get needs root (apt-get install nginx)"
    command -v apt-get >/dev/null || fail "nginx is not installed and cannot be: no apt-get here"
    say "installing nginx with apt-get (Debian's package)"
    # Keep the package from starting the system's nginx on port 80: only this test's nginx may run.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=1
    fi
    apt-get update >"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log" >&2; fail "cannot install nginx: apt-get update failed"; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx >"$WORK/apt.log" 2>&1 \
        || { tail -n 20 "$WORK/apt.log" >&2; fail "cannot install nginx: apt-get install nginx failed"; }
    if [[ -n $POLICY_RC_CREATED ]]; then
        rm -f /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=
    fi
    find_nginx
    [[ -n $NGINX ]] || fail "cannot install nginx: still missing after apt-get install nginx"
fi
say "nginx: $("$NGINX" -v 2>&1), $("$PYTHON" --version), PostgreSQL $(psql_admin -c 'SHOW server_version')"

# -------------------------------------------------------------------------- compose file and nginx.conf
say "compose.postgres.yaml and deploy/nginx.conf describe the same topology"
"$PYTHON" - "$COMPOSE_FILE" "$TEMPLATE" <<'PY' || fail "compose.postgres.yaml and deploy/nginx.conf do not agree"
import re, sys, yaml

compose, nginx = yaml.safe_load(open(sys.argv[1])), open(sys.argv[2]).read()
problems = []
services = compose.get("services") or {}
if set(services) != {"postgres", "api1", "api2", "nginx"}:
    problems.append(f"services are {sorted(services)}, expected postgres, api1, api2, nginx")
postgres = services.get("postgres") or {}
if not str(postgres.get("image", "")).startswith("postgres:"):
    problems.append(f"postgres image is {postgres.get('image')!r}")
if not any(":/var/lib/postgresql/data" in v and not v.startswith((".", "/")) for v in postgres.get("volumes") or []):
    problems.append("postgres keeps no data on a named volume")
if "pg_isready" not in " ".join((postgres.get("healthcheck") or {}).get("test") or []):
    problems.append("postgres has no pg_isready healthcheck")
for name in ("api1", "api2"):
    api = services.get(name) or {}
    env = api.get("environment") or {}
    url = env.get("VEGSALES_DATABASE_URL") or env.get("VEGSALES_DB") or ""
    if not re.match(r"postgres(ql)?://[^@]+@postgres:5432/", url):
        problems.append(f"{name}'s database URL {url!r} does not point to the postgres service")
    if (api.get("depends_on") or {}).get("postgres", {}).get("condition") != "service_healthy":
        problems.append(f"{name} does not wait for a healthy postgres")
    if api.get("build") is None:
        problems.append(f"{name} is not built from the Dockerfile")
proxy = services.get("nginx") or {}
if "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" not in (proxy.get("volumes") or []):
    problems.append("nginx does not mount ./deploy/nginx.conf as /etc/nginx/nginx.conf")
if "8000:8000" not in [str(p) for p in proxy.get("ports") or []]:
    problems.append("nginx does not publish port 8000")
upstreams = re.findall(r"^\s*server\s+([^\s{]+);?\s", nginx, re.M)
if upstreams != ["api1:8000", "api2:8000"]:
    problems.append(f"nginx.conf's upstream servers are {upstreams}, not the services api1:8000 and api2:8000")
if not re.search(r"^\s*listen 8000;", nginx, re.M):
    problems.append("nginx.conf does not listen on 8000, the port compose publishes")
for problem in problems:
    print("  " + problem, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
ok "services postgres (named volume, pg_isready), api1/api2 (built, URL to postgres), nginx (deploy/nginx.conf, :8000)"

# ------------------------------------------------------------------------------------------ database
free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

say "database $DATABASE"
psql_admin -c "CREATE DATABASE $DATABASE" >/dev/null 2>"$WORK/psql.log" \
    || fail "cannot create database $DATABASE: $(head -n 1 "$WORK/psql.log")"
DATABASE_CREATED=1
ok "fresh database $DB_URL"

# ------------------------------------------------------------------------------------------ replicas
start_replica() {  # start_replica INDEX (0 or 1): app_sql.py on its port, in the background
    local i=$1
    "$PYTHON" app_sql.py --db "$DB_URL" --host 127.0.0.1 --port "${API_PORTS[$i]}" --workers 1 \
        >>"$WORK/api$((i + 1)).log" 2>&1 &
    API_PIDS[i]=$!
    disown "$!"  # no job-control notice when the checks kill it
}

wait_health() {  # wait_health LABEL URL PID
    local label=$1 url=$2 pid=$3 t0=$EPOCHREALTIME
    for ((n = 0; n < 150; n++)); do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            fail "$label exited while starting"
        fi
        if "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/health", timeout=2)' \
            "$url" >/dev/null 2>&1; then
            ok "$label answers /health after $("$PYTHON" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$t0" "$EPOCHREALTIME")s"
            return
        fi
        sleep 0.2
    done
    fail "$label did not answer $url/health within 30s"
}

API_PORTS=("$(free_port)" "$(free_port)")
while [[ ${API_PORTS[0]} == "${API_PORTS[1]}" ]]; do API_PORTS[1]=$(free_port); done
say "two replicas: python app_sql.py --db $DB_URL --port ${API_PORTS[0]} / ${API_PORTS[1]}"
start_replica 0
start_replica 1
wait_health "replica 1 (port ${API_PORTS[0]})" "http://127.0.0.1:${API_PORTS[0]}" "${API_PIDS[0]}"
wait_health "replica 2 (port ${API_PORTS[1]})" "http://127.0.0.1:${API_PORTS[1]}" "${API_PIDS[1]}"

# ---------------------------------------------------------------------------------------------- nginx
NGINX_PORT=$(free_port)
while [[ $NGINX_PORT == "${API_PORTS[0]}" || $NGINX_PORT == "${API_PORTS[1]}" ]]; do NGINX_PORT=$(free_port); done
say "nginx on port $NGINX_PORT with deploy/nginx.conf (upstreams rewritten to the local replicas)"
mkdir -p "$NGINX_DIR"
sed -e "s|^\( *server \)api1:8000\( .*# topology-test: replica 1\)$|\1127.0.0.1:${API_PORTS[0]}\2|" \
    -e "s|^\( *server \)api2:8000\( .*# topology-test: replica 2\)$|\1127.0.0.1:${API_PORTS[1]}\2|" \
    -e "s|^\( *listen \)8000;\( *# topology-test: listen\)$|\1127.0.0.1:$NGINX_PORT;\2|" \
    -e "s|^\( *access_log \)/var/log/nginx/access.log\( vegsales; *# topology-test: access log\)$|\1$NGINX_DIR/access.log\2|" \
    -e "s|^http {$|http {\n    # topology-test only: temporary files in the test's folder.\n    client_body_temp_path $NGINX_DIR/client_body;\n    proxy_temp_path $NGINX_DIR/proxy;\n    fastcgi_temp_path $NGINX_DIR/fastcgi;\n    uwsgi_temp_path $NGINX_DIR/uwsgi;\n    scgi_temp_path $NGINX_DIR/scgi;|" \
    "$TEMPLATE" >"$NGINX_DIR/nginx.conf"
for expected in "server 127.0.0.1:${API_PORTS[0]} " "server 127.0.0.1:${API_PORTS[1]} " "listen 127.0.0.1:$NGINX_PORT;" \
    "access_log $NGINX_DIR/access.log vegsales;" "client_body_temp_path $NGINX_DIR/client_body;"; do
    [[ $(grep -cF -- "$expected" "$NGINX_DIR/nginx.conf") == 1 ]] \
        || fail "deploy/nginx.conf changed: cannot rewrite it for the local test ('$expected' not made; keep the '# topology-test:' lines)"
done
! grep -qE 'api[12]:8000|listen 8000' "$NGINX_DIR/nginx.conf" || fail "deploy/nginx.conf: a compose address is left after rewriting"
NGINX_ARGS=(-p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" -g "pid $NGINX_DIR/nginx.pid;")
"$NGINX" -t "${NGINX_ARGS[@]}" >"$WORK/nginx-t.log" 2>&1 || { cat "$WORK/nginx-t.log" >&2; fail "nginx -t rejects the configuration"; }
ok "nginx -t accepts deploy/nginx.conf (rewritten for local ports)"
NGINX_STARTED=1
"$NGINX" "${NGINX_ARGS[@]}" >"$WORK/nginx-start.log" 2>&1 || { cat "$WORK/nginx-start.log" >&2; fail "nginx does not start"; }
for ((n = 0; n < 50; n++)); do [[ -s $NGINX_DIR/nginx.pid ]] && break; sleep 0.1; done
[[ -s $NGINX_DIR/nginx.pid ]] || fail "nginx wrote no pid file"
NGINX_URL=http://127.0.0.1:$NGINX_PORT
wait_health "nginx (port $NGINX_PORT)" "$NGINX_URL" "$(cat "$NGINX_DIR/nginx.pid")"

# --------------------------------------------------------------------------------------------- checks
check() {  # check PHASE: docker/topology_check.py, its passes added to ours
    local before after status
    before=$(cat "$WORK/passed" 2>/dev/null || echo 0)
    "$PYTHON" docker/topology_check.py "$1" --nginx "$NGINX_URL" \
        --replica "http://127.0.0.1:${API_PORTS[0]}" "${API_PIDS[0]}" \
        --replica "http://127.0.0.1:${API_PORTS[1]}" "${API_PIDS[1]}" \
        --log "$NGINX_DIR/access.log" --state "$WORK/state.json" \
        && status=0 || status=$?
    after=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["passed"])' "$WORK/state.json" 2>/dev/null || echo "$before")
    PASSED=$((PASSED + after - before))
    echo "$after" >"$WORK/passed"
    [[ $status -eq 0 ]] || fail "the $1 checks failed (above)"
}

say "both replicas behind nginx"
check balanced
say "one replica killed"
check failover
victim=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["victim"])' "$WORK/state.json")

say "the killed replica restarted on its port"
start_replica "$victim"
wait_health "replica $((victim + 1)) (restarted)" "http://127.0.0.1:${API_PORTS[$victim]}" "${API_PIDS[$victim]}"
check restarted

say "PASS: two replicas on PostgreSQL behind nginx — elapsed $((SECONDS - START))s"
printf 'docker/topology-test.sh: %d passed, 0 failed\n' "$PASSED"
