#!/usr/bin/env bash
# The shared library exports exactly the functions the public headers
# declare: no internal symbol leaks under the public prefix, none is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
lib=$1
include=Sources/CInterruptIO/include
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort -u)
declared=$(cat "$include"/interruptio.h "$include"/interruptio_driver.h \
  | sed 's,/\*.*\*/,,' | grep -oE '\biio_[a-z0-9_]+[[:space:]]*\(' | tr -d ' (' | sort -u)
extra=$(comm -23 <(echo "$exported") <(echo "$declared"))
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
[ -z "$extra" ] || { echo "FAIL: exported but not in the public headers:"; echo "$extra" | sed 's/^/  /'; exit 1; }
[ -z "$missing" ] || { echo "FAIL: declared in the public headers but not exported:"; echo "$missing" | sed 's/^/  /'; exit 1; }
echo "ok   $(echo "$exported" | wc -l) exported symbols, exactly the public headers' functions"
