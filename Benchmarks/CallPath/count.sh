#!/usr/bin/env bash
# Instructions per iio_read in the library's call path, counted by
# callgrind (repeatable on a noisy machine): 200,000 one-byte reads of a
# pipe through iio_read and through read(2); prints both totals and the
# difference per call. Usage: Benchmarks/CallPath/count.sh [SOURCE_DIR]
# (default: this tree's Sources/CInterruptIO).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src=${1:-$root/Sources/CInterruptIO}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -std=c11 -D_GNU_SOURCE -O2 -pthread -I"$src/include" "$src"/*.c "$src"/*.S \
  "$root/Benchmarks/CallPath/read_loop.c" -o "$out/read_loop"
count() { valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$out/read_loop" "$1" 2>&1 |
  sed -n 's/.*Collected : //p'; }
with=$(count iio)
without=$(count read)
echo "iio_read loop: $with instructions; read(2) loop: $without"
echo "per call: $(( (with - without) / 200000 )) instructions more than read(2)"
