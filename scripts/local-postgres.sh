#!/usr/bin/env bash
# A throwaway local PostgreSQL that looks like RDS from the provider's point of view.
#
#   scripts/local-postgres.sh start DIR [MAJOR]   initdb in DIR (must be empty or absent), start
#                                                 on localhost, a random free port, TLS on; prints
#                                                 the port and writes DIR/env.sh
#   scripts/local-postgres.sh stop DIR            stop the server (fast shutdown) and remove DIR
#
# What you get (all values also in DIR/env.sh, to `source`):
#   PG_HOST=localhost PG_PORT=…          listening on localhost only
#   PG_CA=DIR/ca.pem                     the CA that signed the server certificate (localhost,
#                                        127.0.0.1): use sslmode=verify-full sslrootcert=$PG_CA
#   PG_ADMIN_USER=dbadmin PG_ADMIN_PASSWORD=…
#                                        an RDS-like master user: LOGIN CREATEROLE CREATEDB, not a
#                                        superuser, member of `rds_superuser`; PostgreSQL 16+:
#                                        holds `rds_iam` WITH ADMIN OPTION (INHERIT/SET FALSE), as
#                                        on RDS; NOLOGIN roles `rds_superuser` and `rds_iam` exist
#   PG_SOCKET=DIR/run PG_BIN=…           the real superuser `postgres` logs in over this Unix
#                                        socket only (trust), for setting up fixtures
#
# The server runs as Debian's `postgres` OS user when started as root (initdb refuses root).
# Binaries: .tools/pg/MAJOR/bin (scripts/install-tools.sh installs 15 and 17).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ADMIN_USER=dbadmin

die() { printf 'local-postgres: ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command as the server's OS user (root cannot run initdb/postgres).
as_server() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- env -i PATH=/usr/bin:/bin LC_ALL=C "$@"
  else
    env -i PATH=/usr/bin:/bin LC_ALL=C "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_certs() {
  local d="$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=rdsiam local demo CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=localhost" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
  rm -f "$d/ca.key" "$d/server.csr" "$d/server.ext" "$d/ca.srl"
  chmod 0644 "$d/ca.pem" "$d/server.crt"
  chmod 0600 "$d/server.key" # the server refuses a key others can read
}

start() {
  local dir="$1" major="${2:-15}"
  local bin="$ROOT/.tools/pg/$major/bin"
  [ -x "$bin/initdb" ] || die "no PostgreSQL $major in $bin: run scripts/install-tools.sh"
  command -v openssl >/dev/null || die "openssl is needed for the TLS certificates (apt-get install openssl)"
  command -v psql >/dev/null || die "psql is needed (apt-get install postgresql-client)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  chmod 0755 "$dir"
  mkdir -m 0700 "$dir/data"
  mkdir -m 0755 "$dir/run"
  make_certs "$dir"
  local pw
  pw="$(openssl rand -hex 16)"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$dir/data" "$dir/run" "$dir/server.key" "$dir/server.crt"
  fi

  as_server "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  # Unix socket: trust (its directory is ours); TCP: TLS and passwords only, like RDS.
  printf 'local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n' \
    | as_server tee "$dir/data/pg_hba.conf" >/dev/null
  cat <<CONF | as_server tee -a "$dir/data/postgresql.conf" >/dev/null
# scripts/local-postgres.sh
listen_addresses = 'localhost'
unix_socket_directories = '$dir/run'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
shared_buffers = 32MB
max_connections = 50
CONF

  local port="" try
  for try in 1 2 3 4 5; do
    port="$(free_port)"
    if as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/run/postgres.log" -o "-p $port" -w -t 30 start >/dev/null 2>&1; then
      break
    fi
    # Lost a race for the port: try another one; anything else is fatal.
    grep -q -e 'could not bind' -e 'already in use' "$dir/run/postgres.log" 2>/dev/null \
      || { tail -n 20 "$dir/run/postgres.log" >&2 || true; die "PostgreSQL $major did not start (log: $dir/run/postgres.log)"; }
    port=""
  done
  [ -n "$port" ] || die "no free port after 5 tries"

  local membership=""
  if [ "$major" -ge 16 ]; then
    # 16+: CREATEROLE may only grant roles held WITH ADMIN OPTION; RDS sets it up like this.
    membership="GRANT rds_iam TO $ADMIN_USER WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;"
  fi
  psql -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" -U postgres -d postgres >/dev/null <<SQL \
    || die "creating the RDS-like roles failed"
CREATE ROLE rds_superuser NOLOGIN;
CREATE ROLE rds_iam NOLOGIN;
CREATE ROLE $ADMIN_USER LOGIN NOSUPERUSER CREATEROLE CREATEDB PASSWORD '$pw';
GRANT rds_superuser TO $ADMIN_USER;
$membership
SQL

  cat >"$dir/env.sh" <<ENV
PG_MAJOR=$major
PG_HOST=localhost
PG_PORT=$port
PG_CA=$dir/ca.pem
PG_ADMIN_USER=$ADMIN_USER
PG_ADMIN_PASSWORD=$pw
PG_SOCKET=$dir/run
PG_BIN=$bin
PG_DIR=$dir
ENV
  chmod 0600 "$dir/env.sh"
  echo "$port"
}

stop() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    local bin
    bin="$(sed -n 's/^PG_BIN=//p' "$dir/env.sh" 2>/dev/null)"
    if [ -n "$bin" ] && [ -x "$bin/pg_ctl" ]; then
      as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    # Not stopped (pg_ctl missing or stuck): signal the postmaster itself.
    if [ -f "$dir/data/postmaster.pid" ]; then
      local pid
      pid="$(head -n1 "$dir/data/postmaster.pid")"
      kill -QUIT "$pid" 2>/dev/null || true
      sleep 1
    fi
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) [ $# -ge 2 ] || die "usage: $0 start DIR [MAJOR]"; start "$2" "${3:-15}" ;;
  stop) [ $# -ge 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 start DIR [MAJOR] | stop DIR" ;;
esac
