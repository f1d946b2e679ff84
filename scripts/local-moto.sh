#!/usr/bin/env bash
# A throwaway moto server (AWS API emulator) for local runs, from the tools venv.
#
#   scripts/local-moto.sh start DIR                 moto_server on 127.0.0.1, a random free port;
#                                                   prints the port, writes DIR/env.sh
#   scripts/local-moto.sh aurora DIR ID [IAM]       create an Aurora PostgreSQL cluster ID (IAM
#                                                   database auth on unless IAM=false); prints
#                                                   the DBCluster as JSON
#   scripts/local-moto.sh stop DIR                  stop the server and remove DIR
#
# DIR/env.sh sets MOTO_ENDPOINT=http://127.0.0.1:PORT and MOTO_PID. moto accepts any access key
# (use AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing); its account is 123456789012.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.tools/venv"

die() { printf 'local-moto: ERROR: %s\n' "$*" >&2; exit 1; }

start() {
  local dir="$1"
  [ -x "$VENV/bin/moto_server" ] || die "no moto_server in $VENV: run scripts/install-tools.sh"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local try port pid
  for try in 1 2 3; do
    port="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    # setsid: its own process group, so a Ctrl-C meant for the caller's terminal does not hit it
    # mid-teardown and `stop` can signal the whole group.
    setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" </dev/null >"$dir/moto.log" 2>&1 &
    pid=$!
    local i
    for i in $(seq 1 300); do
      if ! kill -0 "$pid" 2>/dev/null; then
        break
      fi
      if "$VENV/bin/python" - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=2).read()
PY
        printf 'MOTO_ENDPOINT=http://127.0.0.1:%s\nMOTO_PID=%s\nMOTO_DIR=%s\n' "$port" "$pid" "$dir" >"$dir/env.sh"
        echo "$port"
        return 0
      fi
      sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  tail -n 20 "$dir/moto.log" >&2 || true
  die "moto_server did not start (log: $dir/moto.log)"
}

aurora() {
  local dir="$1" id="$2" iam="${3:-true}"
  # shellcheck disable=SC1091
  . "$dir/env.sh"
  AWS_EC2_METADATA_DISABLED=true "$VENV/bin/python" - "$MOTO_ENDPOINT" "$id" "$iam" <<'PY'
import json, sys
import boto3
endpoint, cluster_id, iam = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
rds = boto3.client("rds", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
c = rds.create_db_cluster(
    DBClusterIdentifier=cluster_id, Engine="aurora-postgresql", EngineVersion="16.4",
    MasterUsername="dbadmin", MasterUserPassword="not-used-by-the-demo",
    EnableIAMDatabaseAuthentication=iam)["DBCluster"]
print(json.dumps(c, default=str))
PY
}

stop() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  local pid
  pid="$(sed -n 's/^MOTO_PID=//p' "$dir/env.sh" 2>/dev/null)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) [ $# -ge 2 ] || die "usage: $0 start DIR"; start "$2" ;;
  aurora) [ $# -ge 3 ] || die "usage: $0 aurora DIR ID [true|false]"; aurora "$2" "$3" "${4:-true}" ;;
  stop) [ $# -ge 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 start DIR | aurora DIR ID [true|false] | stop DIR" ;;
esac
