#!/usr/bin/env bash
# Lines of Swift and C per target (the table in docs/architecture.md): one row per
# folder under Sources/ and Plugins/<Name>/, largest first.
set -euo pipefail
cd "$(dirname "$0")/.."
for dir in Sources/* Plugins/*/*; do
    [ -d "$dir" ] || continue
    n=$(find "$dir" \( -name '*.swift' -o -name '*.c' -o -name '*.h' \) -print0 | xargs -0 cat 2>/dev/null | wc -l)
    printf '%6d  %s\n' "$n" "$dir"
done | sort -rn
