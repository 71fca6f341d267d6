#!/usr/bin/env bash
# Builds the DocC catalog with warnings as errors (an ambiguous or broken
# link fails), then checks that every public symbol has a doc comment:
# DocC's coverage table lists each with whether it has an abstract.
# Operators and the extended types' pages take theirs from elsewhere.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift package generate-documentation --target InterruptIO --warnings-as-errors 2>&1 | tail -2
table=$(swift package generate-documentation --target InterruptIO \
  --experimental-documentation-coverage --coverage-summary-level detailed 2>&1)
missing=$(awk -F'|' 'NF > 7 && $3 ~ /false/ && $2 !~ /Operator|CollectionGroup|Extended|Article|Symbol Kind/ {print "  " $1 "(" $2 ")"}' <<<"$table")
if [ -n "$missing" ]; then
  echo "FAIL: public symbols without a doc comment:"
  echo "$missing"
  exit 1
fi
echo "ok   DocC builds with warnings as errors; every public symbol has a doc comment"
