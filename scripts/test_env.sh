#!/usr/bin/env bash
# What the test suite needs around it, then the command given (`make test` runs the suite so):
# - a Chromium for the browser tests (tests/app/ui/), passed on as SCHOLAR_TEST_CHROMIUM: the one
#   on PATH, else one installed here (Debian's package when run as root with apt, else
#   Playwright's own download);
# - a throwaway PostgreSQL for the store's PostgreSQL tests, passed on as SCHOLAR_TEST_PG_URL and
#   stopped when the command ends: a new cluster from initdb (installed first when run as root
#   with apt and none is found), run as `postgres` when root, else as this user.
# It says on stderr what it found or did. Whatever it cannot provide, the tests that need it skip
# with the reason. A SCHOLAR_TEST_CHROMIUM or SCHOLAR_TEST_PG_URL already set is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

say() { echo "test_env: $*" >&2; }

is_root_with_apt() { [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; }

apt_install() {
    say "installing Debian's $* (apt-get) ..."
    if [[ -z ${apt_updated:-} ]]; then
        apt-get update -qq >/dev/null
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

chromium_on_path() {
    local name
    for name in chromium chromium-browser google-chrome-stable google-chrome; do
        if command -v "$name" >/dev/null; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

playwright_chromium() {
    "$PYTHON" - <<'EOF'
import pathlib
from playwright.sync_api import sync_playwright

with sync_playwright() as playwright:
    path = pathlib.Path(playwright.chromium.executable_path)
print(path if path.is_file() else "")
EOF
}

find_chromium() {
    local path
    if [[ -n ${SCHOLAR_TEST_CHROMIUM:-} ]]; then
        say "Chromium: $SCHOLAR_TEST_CHROMIUM (SCHOLAR_TEST_CHROMIUM)"
        return
    fi
    if path=$(chromium_on_path); then
        say "Chromium: $path"
    elif is_root_with_apt && apt_install chromium && path=$(chromium_on_path); then
        say "Chromium: installed $path"
    else
        path=$(playwright_chromium 2>/dev/null || true)
        if [[ -z $path ]]; then
            say "installing Playwright's Chromium (playwright install chromium) ..."
            "$PYTHON" -m playwright install chromium >&2 || true
            path=$(playwright_chromium 2>/dev/null || true)
        fi
        if [[ -z $path ]]; then
            say "no Chromium could be found or installed: the browser tests skip"
            return
        fi
        say "Chromium: Playwright's, $path"
    fi
    export SCHOLAR_TEST_CHROMIUM=$path
}

pg_bin_dir() {
    local initdb
    if initdb=$(command -v initdb); then
        dirname "$(readlink -f "$initdb")"
        return 0
    fi
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [[ -n $initdb ]] && dirname "$initdb"
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

as_pg_user() {
    if [[ $(id -u) == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    if [[ -n ${SCHOLAR_TEST_PG_URL:-} ]]; then
        say "PostgreSQL: $SCHOLAR_TEST_PG_URL (SCHOLAR_TEST_PG_URL)"
        return
    fi
    if ! pg_bin=$(pg_bin_dir); then
        if is_root_with_apt && apt_install postgresql && pg_bin=$(pg_bin_dir); then
            say "PostgreSQL: installed $pg_bin"
        else
            say "no initdb found (nor installable here): the PostgreSQL tests skip"
            return
        fi
    fi
    if [[ $(id -u) == 0 ]] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home postgres
    fi
    pg_port=$(free_port)
    pg_data=$(mktemp -d)
    [[ $(id -u) == 0 ]] && chown postgres "$pg_data"
    if ! as_pg_user "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres >"$pg_data.initdb.log" 2>&1 ||
        ! as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w start \
            -o "-p $pg_port -k $pg_data -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null; then
        say "PostgreSQL did not start (see $pg_data.initdb.log, $pg_data/server.log): its tests skip"
        return
    fi
    trap stop_postgres EXIT
    export SCHOLAR_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$pg_port/postgres
    say "PostgreSQL: a throwaway cluster on port $pg_port ($pg_bin), stopped at the end"
}

stop_postgres() {
    as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -m fast stop >/dev/null || true
    rm -rf "$pg_data" "$pg_data.initdb.log"
}

find_chromium
start_postgres
"$@"
