#!/bin/sh
# Fuzz the checkpoint reader or the config JSON readers with libFuzzer (not part of swift build/test).
#
#   Tests/fuzz/fuzz.sh checkpoint|config [SECONDS] [extra libFuzzer flags...]
#
# Builds .build/fuzz/fuzz-TARGET (swiftc -sanitize=fuzzer,address, -O with Swift's checks on)
# from MAMLCore's sources, the harness files the normal tests share (Tests/MAMLCoreTests/
# FuzzHarness.swift; for config also MAMLSchema's JSON.swift, ConfigSchema.swift and
# Tests/MAMLSchemaTests/JSONFuzzHarness.swift) and Tests/fuzz/FuzzTARGET.swift, then runs it niced for SECONDS (default 600) on the corpus
# .build/fuzz/corpus-TARGET, seeded from Tests/fuzz/seeds/TARGET and Tests/fuzz/regressions/TARGET
# (checkpoint seeds are also written by the target itself: valid SGD/Adam checkpoints).
# Crashing inputs land in .build/fuzz/crash-*; copy each into Tests/fuzz/regressions/TARGET/,
# where FuzzRegressionTests (normal test suite) checks that it is refused cleanly.
set -eu
target=${1:?usage: fuzz.sh checkpoint|config [SECONDS]}
seconds=${2:-600}
shift; [ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/.build/fuzz
mkdir -p "$out/corpus-$target"
case $target in
  checkpoint) sources="$root/Sources/MAMLCore/*.swift $root/Tests/MAMLCoreTests/FuzzHarness.swift
                       $root/Tests/fuzz/FuzzCheckpoint.swift" ;;
  config) sources="$root/Sources/MAMLCore/*.swift $root/Tests/MAMLCoreTests/FuzzHarness.swift
                   $root/Sources/MAMLSchema/JSON.swift $root/Sources/MAMLSchema/ConfigSchema.swift
                   $root/Tests/MAMLSchemaTests/JSONFuzzHarness.swift $root/Tests/fuzz/FuzzConfig.swift" ;;
  *) echo "fuzz.sh: unknown target '$target' (checkpoint, config)" >&2; exit 2 ;;
esac
# Compile a snapshot, so editing the sources meanwhile cannot fail the (slow) build.
rm -rf "$out/src-$target"; mkdir -p "$out/src-$target"
# shellcheck disable=SC2086
cp $sources "$out/src-$target/"
# shellcheck disable=SC2086
nice -n 10 swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FuzzTarget \
  -I "$root/Sources/CPNG" $(pkg-config --cflags-only-I libpng | sed 's/-I/-Xcc -I/g') \
  "$out/src-$target"/*.swift $(pkg-config --libs libpng) -o "$out/fuzz-$target" 2>&1 | grep -v "Cannot export local symbol" || true
for dir in "$root/Tests/fuzz/seeds/$target" "$root/Tests/fuzz/regressions/$target"; do
  [ -d "$dir" ] && cp -n "$dir"/* "$out/corpus-$target/" 2>/dev/null || true
done
cd "$out"
MAML_FUZZ_SEED_DIR="$out/corpus-$target" nice -n 10 "./fuzz-$target" -max_total_time="$seconds" \
  -max_len=65536 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 "$@" "corpus-$target"
