#!/usr/bin/env bash
# Installs terraform-provider-rdsiam into a local filesystem mirror, so `terraform init` finds
# it without dev_overrides (and records it in .terraform.lock.hcl like any provider).
#
# Default destination (a directory Terraform searches on its own when the CLI configuration has
# no provider_installation block):
#   ~/.terraform.d/plugins/registry.terraform.io/rdsiam/rdsiam/<version>/<os>_<arch>/terraform-provider-rdsiam_v<version>
#
# Usage: scripts/install-mirror.sh [options]
#   --binary PATH     install this binary instead of building (env RDSIAM_BINARY)
#   --dir DIR         mirror directory (env RDSIAM_MIRROR_DIR; default ~/.terraform.d/plugins)
#   --host HOST       registry host in the source address (env RDSIAM_MIRROR_HOST;
#                     default registry.terraform.io)
#   --namespace NS    namespace in the source address (env RDSIAM_MIRROR_NAMESPACE; default rdsiam)
#   --platform P      os_arch directory, e.g. linux_arm64 (env RDSIAM_PLATFORM; default: this machine)
# Without --binary it runs `cargo build --release` and installs target/release's binary.
# The version is Cargo.toml's; the binary must report the same (`--version`).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TYPE="rdsiam"
NAME="terraform-provider-$TYPE"

BINARY="${RDSIAM_BINARY:-}"
DIR="${RDSIAM_MIRROR_DIR:-}"
HOST="${RDSIAM_MIRROR_HOST:-registry.terraform.io}"
NAMESPACE="${RDSIAM_MIRROR_NAMESPACE:-rdsiam}"
PLATFORM="${RDSIAM_PLATFORM:-}"

die() {
    echo "install-mirror: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --binary | --dir | --host | --namespace | --platform)
            [ $# -ge 2 ] || die "$1 needs a value"
            case "$1" in
                --binary) BINARY="$2" ;;
                --dir) DIR="$2" ;;
                --host) HOST="$2" ;;
                --namespace) NAMESPACE="$2" ;;
                --platform) PLATFORM="$2" ;;
            esac
            shift 2
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

# The [package] version: the first `version = "…"` line of Cargo.toml.
VERSION="$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1)"
[ -n "$VERSION" ] || die "cannot read the version from $ROOT/Cargo.toml"

if [ -z "$PLATFORM" ]; then
    case "$(uname -s)" in
        Linux) os=linux ;;
        Darwin) os=darwin ;;
        FreeBSD) os=freebsd ;;
        *) die "unknown OS $(uname -s); pass --platform os_arch" ;;
    esac
    case "$(uname -m)" in
        x86_64 | amd64) arch=amd64 ;;
        aarch64 | arm64) arch=arm64 ;;
        *) die "unknown CPU $(uname -m); pass --platform os_arch" ;;
    esac
    PLATFORM="${os}_${arch}"
fi

# Names Terraform accepts in a source address: lower-case letters, digits, '-' (and '.' in hosts).
[[ "$NAMESPACE" =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "invalid namespace '$NAMESPACE'"
[[ "$HOST" =~ ^[a-z0-9][a-z0-9.-]*(:[0-9]+)?$ ]] || die "invalid host '$HOST'"
[[ "$PLATFORM" =~ ^[a-z0-9]+_[a-z0-9]+$ ]] || die "invalid platform '$PLATFORM' (want os_arch)"

if [ -z "$BINARY" ]; then
    echo "install-mirror: building the release binary (cargo build --release)"
    (cd "$ROOT" && cargo build --release --locked --bin "$NAME")
    BINARY="$ROOT/target/release/$NAME"
fi
[ -f "$BINARY" ] && [ -x "$BINARY" ] || die "no executable at $BINARY"

# Refuse a binary of another version: Terraform would lock it under the wrong number.
reported="$("$BINARY" --version 2>/dev/null || true)"
[ "$reported" = "$NAME $VERSION" ] ||
    die "$BINARY reports '$reported', expected '$NAME $VERSION'"

DEFAULT_DIR="${HOME:?HOME is not set}/.terraform.d/plugins"
XDG_DIR="${XDG_DATA_HOME:-$HOME/.local/share}/terraform/plugins"
DIR="${DIR:-$DEFAULT_DIR}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

SOURCE="$HOST/$NAMESPACE/$TYPE"
DEST_DIR="$DIR/$SOURCE/$VERSION/$PLATFORM"
DEST="$DEST_DIR/${NAME}_v$VERSION"
mkdir -p "$DEST_DIR"
# Copy then rename: a Terraform run reading the mirror never sees a half-written file.
cp "$BINARY" "$DEST.tmp.$$"
chmod 0755 "$DEST.tmp.$$"
mv -f "$DEST.tmp.$$" "$DEST"

if [ "$HOST" = "registry.terraform.io" ]; then
    short_source="$NAMESPACE/$TYPE"
else
    short_source="$SOURCE"
fi

cat <<EOF
Installed $NAME $VERSION ($PLATFORM)
  from $BINARY
  to   $DEST

Use it with:

terraform {
  required_providers {
    $TYPE = {
      source  = "$short_source"
      version = "$VERSION"
    }
  }
}

EOF

case "$DIR" in
    "$(cd "$DEFAULT_DIR" 2>/dev/null && pwd || echo "$DEFAULT_DIR")" | "$XDG_DIR")
        cat <<EOF
Terraform searches $DIR by itself, as long as your CLI configuration
(~/.terraformrc or TF_CLI_CONFIG_FILE) has no provider_installation block.
EOF
        ;;
    *)
        cat <<EOF
$DIR is not searched by default; add this to your CLI configuration
(~/.terraformrc or the file TF_CLI_CONFIG_FILE names):

provider_installation {
  filesystem_mirror {
    path    = "$DIR"
    include = ["$SOURCE"]
  }
  direct {
    exclude = ["$SOURCE"]
  }
}
EOF
        ;;
esac
cat <<EOF

Reinstalling a changed binary under the same version changes its checksum: in a workspace
that already locked $VERSION, delete .terraform.lock.hcl (or its $SOURCE entry) and run
terraform init again.
EOF
