#!/usr/bin/env bash
# A throwaway PostgreSQL server for the storage tests: a fresh cluster in a temporary folder,
# listening on 127.0.0.1 only (a free port), trust authentication for the role "metanas", and
# an empty database "metanas". Nothing in the system's own clusters is touched.
#
#   eval "$(.ci/postgres.sh start)"    # exports METANAS_TEST_POSTGRES_URL and ..._DIR
#   python -m pytest tests/test_storage_backends.py
#   .ci/postgres.sh stop "$METANAS_TEST_POSTGRES_DIR"    # stops the server, removes the folder
#
# Needs PostgreSQL's server programs (Debian: apt-get install postgresql). Run as root, the
# server runs as the "postgres" user (PostgreSQL refuses to run as root).
set -euo pipefail

usage() {
    echo "usage: $0 start [DIR] | stop DIR" >&2
    exit 2
}

bindir() {
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    # Debian keeps the server programs out of PATH, one folder per major version.
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
        echo "$0: PostgreSQL's initdb was not found. Install the server first, e.g." \
            "'apt-get install -y postgresql' (Debian/Ubuntu)." >&2
        exit 1
    fi
    echo "$dir"
}

# Run a server program as an unprivileged user when we are root.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local dir=${1:-}
    local bin port url
    bin=$(bindir)
    if [ -z "$dir" ]; then
        dir=$(mktemp -d "${TMPDIR:-/tmp}/metanas-pg.XXXXXX")
    fi
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -U metanas --auth=trust --encoding=UTF8 \
        --no-instructions >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    # A test server: durability is not needed (fsync off), a socket only on loopback and in
    # the folder itself, enough connections for several workers and per-test databases.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' \
         -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
         -c max_connections=200" >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U metanas metanas
    url="postgresql+psycopg://metanas@127.0.0.1:$port/metanas"
    echo "$url" >"$dir/url"
    echo "export METANAS_TEST_POSTGRES_URL='$url'"
    echo "export METANAS_TEST_POSTGRES_DIR='$dir'"
}

stop() {
    local dir=${1:-}
    [ -n "$dir" ] || usage
    if [ ! -d "$dir/data" ]; then
        echo "$0: $dir holds no cluster started by '$0 start'." >&2
        exit 1
    fi
    as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*) usage ;;
esac
