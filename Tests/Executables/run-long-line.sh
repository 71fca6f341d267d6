#!/usr/bin/env bash
# interruptio-run should pass a long line (4 MB, no newline until the end)
# through in about the time `cat` takes. Observed: time grows quadratically
# with line length (0.25 MB 0.27 s, 0.5 MB 0.88 s, 1 MB 3.2 s, 10 MB 280 s of
# CPU in a debug build). Exits 1 when the 4 MB line takes over 15 s or is
# corrupted. Argument: debug|release (default debug).
set -uo pipefail
cd "$(dirname "$0")/../.."
config=${1:-debug}
swift build -c "$config" --product interruptio-run 2>&1 | tail -1
bin=$(swift build -c "$config" --show-bin-path)/interruptio-run
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
head -c 4000000 /dev/zero | tr '\0' x > "$work/line"; echo >> "$work/line"
start=$(date +%s.%N)
timeout 15 "$bin" -- cat "$work/line" > "$work/out" 2>"$work/err"; rc=$?
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
if [ "$rc" = 124 ]; then echo "FAIL: a 4 MB line through interruptio-run took over 15 s (cat: milliseconds)"; exit 1; fi
[ "$rc" = 0 ] || { echo "FAIL: exit $rc"; cat "$work/err"; exit 1; }
cmp -s "$work/line" "$work/out" || { echo "FAIL: output differs from input"; exit 1; }
echo "ok: 4 MB line in $took s"
