# shellcheck shell=bash
# A throwaway Postgres for scripts/test and scripts/bench: initdb in a temporary directory (as
# the postgres user when run as root: initdb refuses root), a free port on 127.0.0.1 only,
# fsync off. The caller defines log() and die().
#   start_postgres DBNAME   sets tmp, pg_bin, pg_started and PG_URL
#   stop_postgres           stops it (fast, then SIGQUIT/SIGKILL if it hangs)
tmp=""
pg_bin=""
pg_started=0
PG_URL=""

as_postgres() {  # initdb and postgres refuse to run as root
    if [ "$(id -u)" != 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
    fi
}

alive() {  # is any of these processes still running (zombies do not count)?
    local p
    for p in "$@"; do
        case "$(ps -o stat= -p "$p" 2>/dev/null)" in "" | Z*) ;; *) return 0 ;; esac
    done
    return 1
}

free_port() {  # ask the OS for a free port; fall back to probing random ones
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
            && return
    fi
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
    return 1
}

start_postgres() {  # DBNAME
    pg_bin="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)"  # highest version
    [ -x "$pg_bin/initdb" ] || die "no initdb under /usr/lib/postgresql/*/bin"
    id postgres >/dev/null 2>&1 || [ "$(id -u)" != 0 ] || die "no 'postgres' user to run Postgres as"

    tmp="$(mktemp -d "${TMPDIR:-/tmp}/met-test.XXXXXX")"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$tmp"; fi
    log "initdb in $tmp ($("$pg_bin/postgres" --version))"
    as_postgres "$pg_bin/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
        >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
    mkdir "$tmp/socket"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$tmp/socket"; fi

    local attempt port deadline
    for attempt in 1 2 3; do  # another process may take the port between asking and binding
        port="$(free_port)" || die "no free TCP port"
        cat >>"$tmp/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$tmp/socket'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
# full_count's logical mode (docs/full-count.md): each leader streams oban_jobs through a
# temporary replication slot; the fallback mode is tested on a private Postgres without these.
wal_level = logical
max_replication_slots = 40
max_wal_senders = 40
CONF
        pg_started=1
        # -w: pg_ctl polls until the server accepts connections, and fails at once if it exits.
        if as_postgres "$pg_bin/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w -t 60 start >/dev/null; then
            deadline=$((SECONDS + 30))
            until "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; do
                [ "$SECONDS" -lt "$deadline" ] || { tail -n 20 "$tmp/postgres.log" >&2; die "postgres not ready"; }
                sleep 0.1
            done
            "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$1"
            PG_URL="postgresql://postgres@127.0.0.1:$port/$1"
            log "postgres ready: $PG_URL"
            return
        fi
        log "postgres did not start on port $port (attempt $attempt)"
        tail -n 5 "$tmp/postgres.log" >&2 || true
    done
    die "could not start postgres"
}

stop_postgres() {
    if [ "$pg_started" = 1 ] || [ -f "$tmp/data/postmaster.pid" ]; then
        log "stopping postgres"
        if ! as_postgres "$pg_bin/pg_ctl" -D "$tmp/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
            # Not stopped in time: SIGQUIT is Postgres's immediate shutdown (it also ends the backends).
            local pid
            pid="$(head -n1 "$tmp/data/postmaster.pid" 2>/dev/null || true)"
            if [ -n "$pid" ]; then
                kill -QUIT "$pid" 2>/dev/null || true
                for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
                if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
            fi
        fi
    fi
}
