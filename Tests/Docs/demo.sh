#!/usr/bin/env bash
# Runs the demo the way the README says (`swift run interruptio-demo`) and
# checks that it exits 0 and that each section reports what it shows.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift run interruptio-demo --help | grep -q '^OVERVIEW: ' || { echo "FAIL: interruptio-demo --help"; exit 1; }
set +e; swift run interruptio-demo --bogus >/dev/null 2>&1; rc=$?; set -e
[ "$rc" = 64 ] || { echo "FAIL: interruptio-demo --bogus exited $rc, expected 64"; exit 1; }
out=$(timeout 120 swift run interruptio-demo 2>&1)
echo "$out" | grep -E '^[0-9]\. '
check() { grep -qE "$1" <<<"$out" || { echo "FAIL: the demo did not print: $1"; exit 1; }; }
check '^1\. read on an empty pipe, deadline 200 ms: Errno\.timedOut'
check '^2\. accept with no client, cancelled from another thread: Errno\.canceled'
check '^3\. 1000 threads blocked with deadlines spread over 0\.5 s, all timed out: true'
check '^4\. a Task awaiting a read on an empty pipe, cancelled: CancellationError'
echo "ok   swift run interruptio-demo: exit 0, every section as shown"
