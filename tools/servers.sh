#!/usr/bin/env bash
# Starts and stops the Redis and PostgreSQL servers the comparison harness
# (benches/compare, binary `profiledb-compare`) measures against.
#
#   tools/servers.sh start   install when missing, start both on 127.0.0.1, print exports
#   tools/servers.sh env     print `export PROFILEDB_REDIS_URL=...` / `export PROFILEDB_PG_URL=...`
#   tools/servers.sh status  say what is running
#   tools/servers.sh stop    stop both and remove the state directory
#
# Typical use:   eval "$(tools/servers.sh start)"   ...   tools/servers.sh stop
#
# Everything lives under $PROFILEDB_SERVERS_DIR (default /tmp/profiledb-servers).
# Both servers listen on the loopback address only, on free random ports.
# Redis runs with an append-only file fsynced every second and no RDB
# snapshots; PostgreSQL with trust authentication for the local user
# `postgres` (it is a throwaway benchmark server reachable only from
# 127.0.0.1). One server failing to start does not stop the other: the
# harness reports the missing one and measures the rest.
#
# Messages go to stderr; only the export lines go to stdout, so `eval` works.
set -u

DIR=${PROFILEDB_SERVERS_DIR:-/tmp/profiledb-servers}
HOST=127.0.0.1
PG_SHARED_BUFFERS=${PROFILEDB_PG_SHARED_BUFFERS:-256MB}

log() { echo "servers.sh: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root to run: $*"
        return 1
    fi
}

# apt-get install, running apt-get update first only when the plain install fails.
apt_install() {
    command -v apt-get >/dev/null || { log "apt-get not found; install $* yourself"; return 1; }
    log "installing $* with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 && return 0
    log "install failed; running apt-get update and retrying"
    as_root apt-get update -q >&2 || return 1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

free_port() {
    local p i
    for i in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        if ! port_in_use "$p"; then echo "$p"; return 0; fi
    done
    log "no free port found"
    return 1
}

# The newest PostgreSQL bin directory (Debian keeps them off PATH).
pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    if command -v initdb >/dev/null; then dirname "$(command -v initdb)"; return 0; fi
    return 1
}

# initdb and postgres refuse to run as root: run them as `postgres` then.
PG_USER=""
[ "$(id -u)" -eq 0 ] && PG_USER=postgres
as_pg() {
    if [ -n "$PG_USER" ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

start_redis() {
    local d="$DIR/redis" port
    if [ -f "$d/port" ] && redis-cli -h "$HOST" -p "$(cat "$d/port")" ping >/dev/null 2>&1; then
        log "redis already running on port $(cat "$d/port")"
        return 0
    fi
    command -v redis-server >/dev/null || apt_install redis-server || return 1
    mkdir -p "$d" || return 1
    port=$(free_port) || return 1
    redis-server --bind "$HOST" --port "$port" --protected-mode yes --daemonize yes \
        --dir "$d" --pidfile "$d/redis.pid" --logfile "$d/redis.log" \
        --save "" --appendonly yes --appendfsync everysec >&2 || {
        log "redis-server failed to start; see $d/redis.log"
        return 1
    }
    local i
    for i in $(seq 1 50); do
        if redis-cli -h "$HOST" -p "$port" ping 2>/dev/null | grep -q PONG; then
            echo "$port" >"$d/port"
            log "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on $HOST:$port"
            return 0
        fi
        sleep 0.1
    done
    log "redis-server did not answer on port $port; see $d/redis.log"
    return 1
}

start_postgres() {
    local d="$DIR/pg" bin port
    bin=$(pg_bindir) || { apt_install postgresql && bin=$(pg_bindir); } || {
        log "no PostgreSQL binaries found"
        return 1
    }
    if [ -n "$PG_USER" ] && ! id "$PG_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home "$PG_USER" || return 1
    fi
    if [ -f "$d/port" ] && as_pg "$bin/pg_ctl" -D "$d/data" status >/dev/null 2>&1; then
        log "postgres already running on port $(cat "$d/port")"
        return 0
    fi
    mkdir -p "$d" || return 1
    chmod 755 "$DIR"
    [ -n "$PG_USER" ] && chown "$PG_USER" "$d"
    if [ ! -f "$d/data/PG_VERSION" ]; then
        as_pg "$bin/initdb" -D "$d/data" -U postgres --auth=trust -E UTF8 --no-sync >"$d/initdb.log" 2>&1 || {
            log "initdb failed; see $d/initdb.log"
            return 1
        }
    fi
    port=$(free_port) || return 1
    as_pg "$bin/pg_ctl" -D "$d/data" -l "$d/postgres.log" -w -t 60 start -o \
        "-c listen_addresses=$HOST -p $port -c unix_socket_directories=$d -c shared_buffers=$PG_SHARED_BUFFERS -c max_wal_size=2GB" \
        >&2 || {
        log "PostgreSQL failed to start; see $d/postgres.log"
        return 1
    }
    echo "$port" >"$d/port"
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on $HOST:$port"
}

print_env() {
    if [ -f "$DIR/redis/port" ]; then
        echo "export PROFILEDB_REDIS_URL=redis://$HOST:$(cat "$DIR/redis/port")/0"
    else
        log "redis is not running (no $DIR/redis/port)"
    fi
    if [ -f "$DIR/pg/port" ]; then
        echo "export PROFILEDB_PG_URL=postgres://postgres@$HOST:$(cat "$DIR/pg/port")/postgres"
    else
        log "postgres is not running (no $DIR/pg/port)"
    fi
}

stop_all() {
    local bin
    if [ -f "$DIR/redis/port" ]; then
        redis-cli -h "$HOST" -p "$(cat "$DIR/redis/port")" shutdown nosave >/dev/null 2>&1 || true
    fi
    if [ -f "$DIR/redis/redis.pid" ]; then
        local pid
        pid=$(cat "$DIR/redis/redis.pid")
        if kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/comm" 2>/dev/null; then kill "$pid"; fi
    fi
    if [ -f "$DIR/pg/data/postmaster.pid" ] && bin=$(pg_bindir); then
        as_pg "$bin/pg_ctl" -D "$DIR/pg/data" -m fast -w stop >&2 || log "pg_ctl stop failed"
    fi
    rm -rf "$DIR"
    log "stopped; removed $DIR"
}

status() {
    if [ -f "$DIR/redis/port" ] && redis-cli -h "$HOST" -p "$(cat "$DIR/redis/port")" ping >/dev/null 2>&1; then
        log "redis: running on $HOST:$(cat "$DIR/redis/port")"
    else
        log "redis: not running"
    fi
    local bin
    if [ -f "$DIR/pg/port" ] && bin=$(pg_bindir) && as_pg "$bin/pg_ctl" -D "$DIR/pg/data" status >/dev/null 2>&1; then
        log "postgres: running on $HOST:$(cat "$DIR/pg/port")"
    else
        log "postgres: not running"
    fi
}

case "${1:-}" in
start)
    mkdir -p "$DIR" || exit 1
    ok=0
    start_redis || { log "redis: NOT started"; ok=1; }
    start_postgres || { log "postgres: NOT started"; ok=1; }
    print_env
    exit $ok
    ;;
env) print_env ;;
status) status ;;
stop) stop_all ;;
*)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
