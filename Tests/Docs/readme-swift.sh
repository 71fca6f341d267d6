#!/usr/bin/env bash
# Builds the README's Swift example as a program (in a scratch package that
# depends on this one by path) and runs it to completion: the README
# cannot drift from the API, nor show code that never finishes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/Sources/readme"
cat > "$work/Package.swift" <<PKG
// swift-tools-version: 6.0
import PackageDescription
let package = Package(
    name: "readme",
    dependencies: [
        .package(path: "$root"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [.executableTarget(name: "readme", dependencies: [
        .product(name: "InterruptIO", package: "$(basename "$root")"),
        .product(name: "SystemPackage", package: "swift-system"),
    ])]
)
PKG
# The first ```swift block after "## Swift".
awk '/^## Swift$/ {s=1} s && /^```swift$/ {p=1; next} p && /^```$/ {exit} p' "$root/README.md" \
  > "$work/Sources/readme/main.swift"
test -s "$work/Sources/readme/main.swift"
swift build --package-path "$work" 2>&1 | tail -3
out=$(timeout 30 "$work/.build/debug/readme")
echo "$out"
for line in "no data in time" "async read 5 bytes" "the scope's deadline ended the read" "shielded write of 10 bytes"; do
  grep -qx "$line" <<<"$out" || { echo "FAIL: the README example did not print: $line"; exit 1; }
done
[ "$(grep -cx closed <<<"$out")" = 3 ] || { echo "FAIL: close did not end all three blocked reads"; exit 1; }
echo "ok   the README's Swift example builds and runs to completion"
