#!/usr/bin/env bash
# Builds the plain C test program with cc alone. Usage:
#   Tests/CTests/build.sh OUT [extra cc flags...]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$1; shift
CC=${CC:-cc}
"$CC" -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -pthread "$@" \
  -I"$here/Sources/CInterruptIO/include" \
  "$here"/Sources/CInterruptIO/*.c "$here"/Sources/CInterruptIO/*.S \
  "$here/Tests/CTests/test_interruptio.c" -o "$out"
