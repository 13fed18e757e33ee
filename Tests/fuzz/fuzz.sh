#!/bin/sh
# Fuzz the readers of untrusted input with libFuzzer (docs/fuzzing.md).
#
#   Tests/fuzz/fuzz.sh TARGET [SECONDS] [libFuzzer flags...]  build fuzz-TARGET, run it SECONDS (default 600)
#   Tests/fuzz/fuzz.sh --build [TARGET...]                    build (every target when none is named)
#   Tests/fuzz/fuzz.sh --list                                 the targets: checkpoint config png scancache
#
# The targets are the executables of the package Tests/fuzz (Package.swift there), which depends
# on maml-zoo by path: SwiftPM builds the package's own modules (C ones included) with coverage
# instrumentation and AddressSanitizer, release (-O, Swift's overflow and bounds checks on) with
# -enable-testing, into .build/fuzz/pkg. No file list: a source file added to or moved between
# the package's modules is picked up as in `swift build`.
#
# A run is niced, on the corpus .build/fuzz/corpus-TARGET ($MAML_FUZZ_CORPUS to choose another),
# seeded from Tests/fuzz/seeds/TARGET and Tests/fuzz/regressions/TARGET (and seeds the target
# writes itself when it has LLVMFuzzerInitialize). Scratch files go to a fresh directory on
# /dev/shm (else $TMPDIR), removed afterwards. A crashing input is saved as
# .build/fuzz/TARGET-crash-HASH (leak-, timeout-, oom-): copy it into Tests/fuzz/regressions/TARGET/,
# where the normal test suite replays it. The exit status is libFuzzer's: 0 when the time ran out
# with no finding. FuzzSmokeTests (Tests/CLITests) runs every target for a few seconds.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/.build/fuzz
targets() { for d in "$root"/Tests/fuzz/Sources/fuzz-*/; do basename "$d" | sed 's/^fuzz-//'; done; }
usage() { echo "usage: fuzz.sh TARGET [SECONDS] [libFuzzer flags...] | --build [TARGET...] | --list" >&2
          echo "targets: $(targets | tr '\n' ' ')" >&2; exit 2; }

# Builds the named targets' executables (every target with no name); fails loudly, with the
# compiler's output. One `swift build` per product: SwiftPM builds only the last of several --product.
build() {
  mkdir -p "$out"
  [ $# -gt 0 ] || set -- ""
  for t in "$@"; do
    # --sanitize fuzzer makes SwiftPM link libFuzzer's main (no entry point renaming), but it
    # passes -sanitize=fuzzer and -sanitize=address to swiftc as two flags, of which swiftc keeps
    # only the last: Swift code would get no coverage. The -Xswiftc list comes after and wins.
    # shellcheck disable=SC2046
    if ! nice -n 10 swift build --package-path "$root/Tests/fuzz" --scratch-path "$out/pkg" -c release \
        --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing \
        $([ -n "$t" ] && echo --product "fuzz-$t") \
        >"$out/build.log" 2>&1; then
      grep -v "Cannot export local symbol" "$out/build.log" >&2
      echo "fuzz.sh: building ${t:-the fuzz targets} failed (it needs a toolchain with libFuzzer's runtime:" \
           "swiftc -sanitize=fuzzer); log: $out/build.log" >&2
      exit 1
    fi
  done
}

case ${1:-} in
  ""|-h|--help) usage ;;
  --list) targets; exit 0 ;;
  --build) shift; for t in "$@"; do [ -d "$root/Tests/fuzz/Sources/fuzz-$t" ] || usage; done; build "$@"; exit 0 ;;
esac
target=$1
seconds=${2:-600}
shift; [ $# -gt 0 ] && shift
[ -d "$root/Tests/fuzz/Sources/fuzz-$target" ] || { echo "fuzz.sh: unknown target '$target'" >&2; usage; }
build "$target"
binary=$(swift build --package-path "$root/Tests/fuzz" --scratch-path "$out/pkg" -c release --show-bin-path)/fuzz-$target

corpus=${MAML_FUZZ_CORPUS:-$out/corpus-$target}
mkdir -p "$corpus"
for dir in "$root/Tests/fuzz/seeds/$target" "$root/Tests/fuzz/regressions/$target"; do
  [ -d "$dir" ] && cp -n "$dir"/* "$corpus/" 2>/dev/null || true
done
shm=/dev/shm; [ -d $shm ] && [ -w $shm ] || shm=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$shm/maml-fuzz-$target.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM
status=0
LSAN_OPTIONS=suppressions=$root/Tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS} \
MAML_FUZZ_SEED_DIR=$corpus MAML_FUZZ_SCRATCH=$scratch nice -n 10 "$binary" -max_total_time="$seconds" \
  -max_len=65536 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$out/$target-" \
  "$@" "$corpus" || status=$?
exit $status
