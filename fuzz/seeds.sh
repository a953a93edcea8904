#!/usr/bin/env bash
# Writes the seed corpora into fuzz/seeds/<target>/ (committed; fuzz/run.sh
# copies them into fuzz/corpus/<target>/, which libFuzzer grows and git
# ignores): W1 trace files from gen_soak.py for `import` (the first byte of
# an import input picks the file name: 0 .ndjson, 1 .log, 2 .json), and
# real records of a small database plus random starts for the others.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/seeds
gen=tests/data/gen_soak.py
mkdir -p "$out/import"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$gen" 40 --seed 1 --out "$tmp/w1.ndjson"
python3 "$gen" 12 --seed 2 --json --out "$tmp/w1.json"
{ printf '\x00'; cat "$tmp/w1.ndjson"; } > "$out/import/w1-ndjson"
{ printf '\x02'; cat "$tmp/w1.json"; } > "$out/import/w1-array"
# Older traces without width, two appended sessions, a failed event and a
# torn last line (a writer killed mid-line).
{
    printf '\x01'
    head -n 5 "$tmp/w1.ndjson" | sed 's/, "width": [0-9]*//'
    head -n 3 "$tmp/w1.ndjson"
    printf '{"op": "read", "address": 16, "value": 0, "width": 4, "timestamp": 0.5, "error": "bus timeout"}\n'
    printf '{"op": "write", "address": 1'
} > "$out/import/w1-sessions-torn"
CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo run --quiet --release --manifest-path fuzz/Cargo.toml --example seeds -- "$out"
ls -l "$out"/*
