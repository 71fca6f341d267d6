#!/usr/bin/env bash
# Builds every ```c block of the README's "## C" section as a complete
# program with cc alone, runs each to completion (exit 0) and checks what
# it prints, so the README's C cannot drift from the header.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk -v dir="$work" '
  /^## / { in_c = ($0 == "## C") }
  in_c && /^```c$/ { n++; file = dir "/example" n ".c"; next }
  file && /^```$/ { close(file); file = ""; next }
  file { print > file }
' "$root/README.md"
expected=(
  ""
  $'cancelled\nstopped with the group\nstopped with the group\n1, then read 1 byte'
  $'timed out\ntimed out\ntimed out\nclosed\nclosed\nclosed'
)
count=$(ls "$work"/example*.c | wc -l)
[ "$count" = 2 ] || { echo "FAIL: expected 2 C programs in the README's C section, found $count"; exit 1; }
for i in $(seq 1 "$count"); do
  ${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
    -I"$root/Sources/CInterruptIO/include" \
    "$root"/Sources/CInterruptIO/*.c "$root"/Sources/CInterruptIO/*.S \
    "$work/example$i.c" -o "$work/example$i"
  out=$(timeout 30 "$work/example$i")
  echo "$out" | sed "s/^/  example $i: /"
  [ "$out" = "${expected[$i]}" ] || { echo "FAIL: the README's C program $i printed something else"; exit 1; }
done
echo "ok   the README's $count C programs build and run to completion"
