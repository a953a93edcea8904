#!/usr/bin/env bash
# Runs one fuzz target for a while on the stable toolchain:
#   fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
# TARGET is ops, import, open_damaged or records. Installs cargo-fuzz if it
# is missing, copies the committed seeds (fuzz/seeds/TARGET) into the
# corpus (fuzz/corpus/TARGET, which libFuzzer grows), and runs without a
# sanitizer (`-s none`: safe Rust needs none, and sanitizers need nightly).
# Crashes land in fuzz/artifacts/TARGET/; replay one with
#   cd fuzz && cargo fuzz run -s none TARGET artifacts/TARGET/crash-...
# The last line of libFuzzer's output tells the executions: "Done N runs in S second(s)".
set -euo pipefail
target=${1:?usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags...]}
seconds=${2:?usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags...]}
shift 2
cd "$(dirname "$0")"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
mkdir -p "corpus/$target"
if [ -d "seeds/$target" ]; then
    cp -n "seeds/$target"/* "corpus/$target/" 2>/dev/null || true
fi
# A slow input (over 30 s) counts as a failure; inputs are bounded to run
# in milliseconds.
exec cargo fuzz run -s none "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=30 -print_final_stats=1 "$@"
