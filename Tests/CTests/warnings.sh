#!/usr/bin/env bash
# The C sources build without a warning (-Wall -Wextra -Werror, strict C11)
# under every optimisation level and sanitizer CI uses: gcc's
# -Wmaybe-uninitialized differs between them (found by an outside review
# under -fsanitize=thread -O1).
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CC:-cc}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for flags in "-O0" "-O1" "-O2" "-O3" "-Os" "-O1 -fsanitize=thread" "-O2 -fsanitize=thread" \
             "-O1 -fsanitize=address,undefined" "-O2 -fsanitize=address,undefined"; do
  for src in Sources/CInterruptIO/*.c Sources/CInterruptIO/*.S; do
    # shellcheck disable=SC2086
    "$CC" -std=c11 -Wall -Wextra -Werror -pthread $flags -ISources/CInterruptIO/include \
      -c "$src" -o "$out/$(basename "$src").o" || { echo "FAIL: $src with $flags"; exit 1; }
  done
done
echo "ok   the C sources build warning-free at -O0..-O3/-Os, plainly and under TSan and ASan+UBSan"
