#!/usr/bin/env bash
# Compile checks against the debug build (run `swift build` first):
#  - SyncCallOnOwnThread.swift must type-check (sync forms from sync code,
#    and inside BlockingPool.run);
#  - SyncCallInAsync.swift must be rejected on every line marked
#    EXPECT-ERROR: a blocking sync form called from async code is an error
#    (the library marks them noasync).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=$(swift build --show-bin-path)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/module.modulemap" <<MAP
module CInterruptIO { umbrella header "$root/Sources/CInterruptIO/include/interruptio.h" export * }
MAP
csystem=$(find "$root/.build/checkouts/swift-system" -path '*CSystem/include/module.modulemap' | head -1)
typecheck() {
  swiftc -typecheck -swift-version 6 -I "$bin/Modules" \
    -Xcc -fmodule-map-file="$tmp/module.modulemap" -Xcc -fmodule-map-file="$csystem" "$@"
}
typecheck Tests/CompileChecks/SyncCallOnOwnThread.swift
echo "ok   SyncCallOnOwnThread.swift compiles"
if typecheck Tests/CompileChecks/SyncCallInAsync.swift > "$tmp/out" 2>&1; then
  echo "FAIL SyncCallInAsync.swift compiled: sync forms are callable from async code"; exit 1
fi
expected=$(grep -n '// EXPECT-ERROR$' Tests/CompileChecks/SyncCallInAsync.swift | cut -d: -f1)
for line in $expected; do
  if ! grep -Eq "SyncCallInAsync.swift:$line:[0-9]+: error: .*(unavailable from asynchronous contexts|is 'async' but is not marked with 'await')" "$tmp/out"; then
    echo "FAIL line $line: not rejected as a sync call from async code"; cat "$tmp/out"; exit 1
  fi
done
grep -q "unavailable from asynchronous contexts" "$tmp/out" || { echo "FAIL: noasync never fired"; exit 1; }
errors=$(grep -c 'SyncCallInAsync.swift:[0-9]*:[0-9]*: error' "$tmp/out" || true)
if [ "$errors" -ne "$(echo "$expected" | wc -l)" ]; then
  echo "FAIL: $errors errors, expected one per EXPECT-ERROR line"; cat "$tmp/out"; exit 1
fi
echo "ok   SyncCallInAsync.swift rejected on each of its $errors lines (await required, or noasync)"
