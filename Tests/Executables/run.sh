#!/usr/bin/env bash
# Runs interruptio-run as a process, as the README says, against real
# children: one that prints and exits, one whose output streams line by
# line, one that keeps talking on alternate streams (the idle deadline moves
# for both pipes), one that goes silent (idle deadline), one that ignores
# SIGTERM (overall deadline, then SIGKILL), a command that does not exist,
# and bad options. Argument: debug|release (default debug).
set -euo pipefail
cd "$(dirname "$0")/../.."
config=${1:-debug}
swift build -c "$config" --product interruptio-run 2>&1 | tail -1
bin=$(swift build -c "$config" --show-bin-path)/interruptio-run
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL ($config): $*"; for f in "$work"/*; do [ -f "$f" ] && sed "s|^|  $(basename "$f"): |" "$f"; done; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
within() { awk -v t="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t <= hi) }'; }
run() { # run NAME ARGS...: stdout, stderr and status into $work/NAME.*
  local name=$1; shift
  set +e; "$bin" "$@" >"$work/$name.out" 2>"$work/$name.err"; echo $? >"$work/$name.rc"; set -e
}

"$bin" --help | grep -q -- '--grace' || fail "--help does not list --grace"
for bad in "" "--idle=0 -- true" "--timeout=-1 -- true" "--grace=nan -- true" "--bogus -- true"; do
  set +e; "$bin" $bad >/dev/null 2>&1; rc=$?; set -e
  [ "$rc" = 64 ] || fail "'$bad' exited $rc, expected 64"
done

# Prints on both streams and exits 3: the output passes, the status is its own.
run exits -- sh -c 'echo one; echo two >&2; exit 3'
[ "$(cat "$work/exits.rc")" = 3 ] || fail "exit status $(cat "$work/exits.rc"), expected 3"
[ "$(cat "$work/exits.out")" = one ] || fail "stdout"
grep -qx two "$work/exits.err" || fail "stderr line"
grep -qx 'interruptio-run: the command ended: exit status 3' "$work/exits.err" || fail "report of exit 3"

# Line by line: the first line arrives while the command is still running.
start=$(now)
"$bin" -- sh -c 'echo first; sleep 1; echo second' | while IFS= read -r line; do echo "$(now) $line"; done >"$work/stream.times"
first=$(awk '$2 == "first" {print $1}' "$work/stream.times")
second=$(awk '$2 == "second" {print $1}' "$work/stream.times")
gap=$(elapsed "$first" "$second")
within "$gap" 0.8 5 || fail "first line only $gap s before the second: not streamed"

# Talking every 0.3 s on alternate streams with --idle 1: never idle.
start=$(now)
run talker --idle 1 --timeout 20 -- sh -c 'for i in 1 2 3 4 5 6 7 8; do echo out $i; sleep 0.15; echo err $i >&2; sleep 0.15; done'
[ "$(cat "$work/talker.rc")" = 0 ] || fail "talker exited $(cat "$work/talker.rc"), expected 0 (output on either stream must move the idle deadline)"
[ "$(grep -c '^out' "$work/talker.out")" = 8 ] || fail "talker stdout lines"

# Silent after one line: the idle deadline fires after ~1 s, SIGTERM ends it.
start=$(now)
run silent --idle 1 --timeout 20 -- sh -c 'echo hello; exec sleep 30'
took=$(elapsed "$start" "$(now)")
[ "$(cat "$work/silent.rc")" = 124 ] || fail "silent exited $(cat "$work/silent.rc"), expected 124"
within "$took" 0.9 4 || fail "idle deadline of 1 s ended the run after $took s"
grep -qx hello "$work/silent.out" || fail "silent: its line"
grep -qx 'interruptio-run: the idle deadline (1 s without output) fired: sent SIGTERM; the command ended: killed by signal 15' "$work/silent.err" \
  || fail "silent: report"

# Ignores SIGTERM: the overall deadline fires, SIGKILL after the grace.
start=$(now)
run stubborn --timeout 1 --grace 1 -- sh -c 'trap "" TERM; echo up; while :; do sleep 0.1; done'
took=$(elapsed "$start" "$(now)")
[ "$(cat "$work/stubborn.rc")" = 124 ] || fail "stubborn exited $(cat "$work/stubborn.rc"), expected 124"
within "$took" 1.9 6 || fail "1 s timeout + 1 s grace ended the run after $took s"
grep -qx 'interruptio-run: the overall deadline (1 s) fired: sent SIGTERM, then SIGKILL after the 1 s grace; the command ended: killed by signal 9' "$work/stubborn.err" \
  || fail "stubborn: report"

run missing -- no-such-command-for-interruptio-run
[ "$(cat "$work/missing.rc")" = 127 ] || fail "a missing command exited $(cat "$work/missing.rc"), expected 127"

run killed -- sh -c 'kill -USR1 $$'
[ "$(cat "$work/killed.rc")" = $((128 + 10)) ] || fail "a command killed by SIGUSR1 exited $(cat "$work/killed.rc"), expected 138"

echo "ok   interruptio-run ($config) as a process: status, streaming, idle and overall deadlines, TERM then KILL"
