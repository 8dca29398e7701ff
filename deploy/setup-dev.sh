#!/usr/bin/env bash
# Prepare this machine for scraperq's test suite; safe to run again.
#
# Installs the pinned Python dependencies into .venv, and makes sure what the tests
# talk to is installed and running on loopback: PostgreSQL, Redis and Chromium
# (Scrapyd processes and the mock HTTP server are started by the tests themselves).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup-dev: %s\n' "$*" >&2; }

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt -e .

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis on 127.0.0.1:6379"
    # The append-only file, as deploy/redis.conf has it: a restart keeps the queue.
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly yes --appendfsync everysec \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

pg_ready() { .venv/bin/python -c 'import psycopg; psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()' 2>/dev/null; }
if ! pg_ready; then
    version=$(ls /etc/postgresql | sort -n | tail -1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    # The tests connect as postgres over loopback without a password, as on the CI machine.
    if ! grep -q '^host all postgres 127.0.0.1/32 trust' "$hba"; then
        sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    fi
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main restart || pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 30); do pg_ready && break; sleep 1; done
    pg_ready || { log "PostgreSQL did not come up on 127.0.0.1:5432"; exit 1; }
fi
log "ready"
