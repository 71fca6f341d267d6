#!/usr/bin/env bash
# Installs the Makefile's build into a scratch prefix and builds a small C
# program against it through pkg-config, linked shared and static; each run
# must see its deadline fire with no set-up of its own (the core starts its
# own timer thread).
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make -s install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
version=$(pkg-config --modversion interruptio)
cc -std=c11 -Wall -Wextra -Werror Tests/Make/hello.c $(pkg-config --cflags --libs interruptio) \
  -Wl,-rpath,"$prefix/lib" -o "$prefix/hello-shared"
cc -std=c11 -Wall -Wextra -Werror Tests/Make/hello.c $(pkg-config --cflags interruptio) \
  "$prefix/lib/libinterruptio.a" -pthread -o "$prefix/hello-static"
ldd "$prefix/hello-shared" | grep -q "libinterruptio.so" || { echo "FAIL: not linked to the shared library"; exit 1; }
for kind in shared static; do
  out=$("$prefix/hello-$kind")
  echo "  $kind: $out"
  grep -q "^interruptio $version: read timed out after" <<<"$out" || { echo "FAIL: $kind"; exit 1; }
done
echo "ok   installed with make, found by pkg-config (version $version), linked shared and static"
