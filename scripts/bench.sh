#!/usr/bin/env bash
# `make bench`: runs every benchmark and regenerates docs/benchmarks.md. Not part of `make test`.
#
# Builds the four bench binaries once (release), then runs them directly, so every bench
# measures the same provider build and none recompiles in between. The token, users and
# grants benches run first; their output is captured in target/bench/ and embedded by the
# scale bench, which runs last and writes the document (benches/benchmarks.md.in is the
# template). For a quicker scale matrix alone:
#   BENCH_N=10,100 cargo bench --bench scale     (writes target/bench/benchmarks.md)
set -uo pipefail
cd "$(dirname "$0")/.."

out=target/bench
mkdir -p "$out"
start=$(date +%s)
benches=(token users grants scale)

args=()
for b in "${benches[@]}"; do args+=(--bench "$b"); done
cargo bench --no-run "${args[@]}" --message-format=json-render-diagnostics >"$out/build.json" || exit 1
# name -> executable, from cargo's JSON messages.
exe() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == sys.argv[2] and "bench" in m["target"]["kind"]:
        print(m["executable"])
' "$out/build.json" "$1" | tail -n 1
}

status=0
for b in "${benches[@]}"; do
    bin=$(exe "$b")
    if [ -z "$bin" ]; then
        echo "FAIL: no executable for bench $b"
        status=1
        continue
    fi
    echo "== $b ($bin --bench)"
    if [ "$b" = scale ]; then
        BENCH_CAPTURE_DIR="$out" "$bin" --bench || status=1
    elif ! "$bin" --bench | tee "$out/$b.txt"; then
        echo "FAIL: bench $b" | tee -a "$out/$b.txt"
        status=1
    fi
done

echo "== make bench: $(($(date +%s) - start)) s, exit status $status"
exit $status
