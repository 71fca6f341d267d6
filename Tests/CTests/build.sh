#!/usr/bin/env bash
# Builds a plain C test program with cc alone. Usage:
#   Tests/CTests/build.sh OUT [extra cc flags...]
# TEST_PROGRAM=test_hardening builds Tests/CTests/test_hardening.c instead of
# the default test_interruptio.c.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$1; shift
CC=${CC:-cc}
prog=${TEST_PROGRAM:-test_interruptio}
"$CC" -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -pthread "$@" \
  -I"$here/Sources/CInterruptIO/include" \
  "$here"/Sources/CInterruptIO/*.c "$here"/Sources/CInterruptIO/*.S \
  "$here/Tests/CTests/$prog.c" -o "$out"
