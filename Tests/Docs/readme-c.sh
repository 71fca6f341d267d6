#!/usr/bin/env bash
# Builds the README's complete C program (the ```c block under "Go's
# net.Conn contract in C") with cc alone and runs it: it must print three
# timeouts, then three closes, and exit 0.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk '/^### Go.s net.Conn contract in C$/ {s=1} s && /^```c$/ {p=1; next} p && /^```$/ {exit} p' \
  "$root/README.md" > "$work/example.c"
test -s "$work/example.c"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -pthread -I"$root/Sources/CInterruptIO/include" \
  "$root"/Sources/CInterruptIO/*.c "$root"/Sources/CInterruptIO/*.S "$work/example.c" -o "$work/example" \
  -D_GNU_SOURCE
out=$(timeout 30 "$work/example")
echo "$out"
expected=$'timed out\ntimed out\ntimed out\nclosed\nclosed\nclosed'
[ "$out" = "$expected" ] || { echo "FAIL: the README's C program printed something else"; exit 1; }
echo "ok   the README's C program builds and runs to completion"
