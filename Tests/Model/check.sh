#!/usr/bin/env bash
# Exhaustive spin checks of the request protocol model (request_protocol.pml).
# See Tests/Model/README.md for what each check covers.
#
#   Tests/Model/check.sh                 every property check; exit 1 on any failure
#   Tests/Model/check.sh NAME...         only those checks (or mutants)
#   Tests/Model/check.sh --mutants       also the mutants: known-bad variants of
#                                        one C step each, which must be caught
#   Tests/Model/check.sh --show-trail NAME
#                                        run NAME; if spin finds a violation,
#                                        print the counterexample step by step
#   Tests/Model/check.sh --list          list checks and mutants
#   -j N                                 run N checks at once (default 1; the
#                                        largest check takes ~3 GB)
#   --keep                               keep the work directory
#
# Needs spin (Debian: apt-get install spin) and a C compiler. MODEL_MEMLIM
# (MB, default 4096) bounds pan's memory; a search that hits it fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
model="$here/request_protocol.pml"
memlim="${MODEL_MEMLIM:-4096}"
cc="${CC:-cc}"

# name | spin -D flags | kind (safety, np, ltl) | properties
checks=(
  "window|-DCFG_WINDOW|safety|P1 cancel/sticky/recheck through the PC window (before/in/after, nested SA_RESTART handler), P2, P3, P4"
  "window_np|-DCFG_WINDOW|np|every execution terminates (so P1/P3 above are liveness)"
  "portable|-DCFG_PORTABLE|safety|P2, P3, P4 (resend timer) on the portable path"
  "portable_ltl|-DCFG_PORTABLE -DLTL|ltl|P1 portable: entry gap + resend timer, weak fairness"
  "mixed|-DCFG_PORTABLE -DMODE_MIXED|safety|P1 (end states), P2, P3, P4 with the entry mode switching per op"
  "deadline_setfor|-DCFG_DEADLINE|safety|P1 deadline: driver review vs op begin, deadline_set_for (hold), P2, P3"
  "deadline_setfor_np|-DCFG_DEADLINE|np|every execution terminates"
  "deadline_source|-DCFG_DEADLINE -DDL_SOURCE|safety|P1 deadline with a deadline source + deadline_changed, P2, P3"
  "deadline_source_np|-DCFG_DEADLINE -DDL_SOURCE|np|every execution terminates"
  "groups|-DCFG_GROUPS|safety|P5 group cancel/reset/join/leave vs sticky, P1 group cancel, P2, P3"
  "groups_np|-DCFG_GROUPS|np|every execution terminates"
  "reuse|-DCFG_REUSE|safety|P2 stale handles vs record reuse, P3 holds vs op end/exit, P4"
  "reuse_np|-DCFG_REUSE|np|every execution terminates"
  "retire|-DCFG_REUSE -DINC_BITS=1 -DINC_START=0|safety|P2 with a 1-bit incarnation: retirement stops the wrap"
  "window_shield|-DCFG_WINDOW -DSHIELD|safety|P6 shield: no cancel ends a shielded call, a kept one fails the next call, P1-P4 as window"
  "portable_shield|-DCFG_PORTABLE -DSHIELD|safety|P6 on the portable path (resend timer), P2-P4"
  "groups_shield|-DCFG_GROUPS -DSHIELD|safety|P6 with group and sticky cancels in force through the shield, P5"
)

# name | spin -D flags | kind | what is broken (each must be caught)
mutants=(
  "mut_no_redirect|-DCFG_WINDOW -DMUT_NO_REDIRECT|safety|handler never moves the PC to iio_cp_cancel"
  "mut_no_defer|-DCFG_WINDOW -DMUT_NO_DEFER|safety|handler does not defer outside the window"
  "mut_stale_redirect|-DCFG_WINDOW -DMUT_STALE_REDIRECT|safety|handler redirects without CANCEL"
  "mut_no_cleanup_bit|-DCFG_WINDOW -DMUT_NO_CLEANUP_BIT|safety|defer does not set CLEANUP"
  "mut_no_timer|-DCFG_PORTABLE -DMUT_NO_TIMER|safety|portable request sends one signal, no resend timer"
  "mut_no_timer_ltl|-DCFG_PORTABLE -DLTL -DMUT_NO_TIMER|ltl|same, caught by the liveness check"
  "mut_no_hold|-DCFG_REUSE -DMUT_NO_HOLD|safety|request_in_flight takes no hold"
  "mut_no_inc_bump|-DCFG_REUSE -DMUT_NO_INC_BUMP|safety|exit keeps the incarnation"
  "mut_no_retire|-DCFG_REUSE -DINC_BITS=1 -DINC_START=0 -DMUT_NO_RETIRE|safety|a record at INC_MAX is reused"
  "mut_reset_all|-DCFG_GROUPS -DMUT_RESET_ALL|safety|ungroup clears every group's count"
  "mut_clear_all|-DCFG_GROUPS -DMUT_CLEAR_ALL|safety|clear_cancel clears groups too"
  "mut_no_unschedule|-DCFG_DEADLINE -DMUT_NO_UNSCHEDULE|safety|review stores scheduled_ns = NEVER only when it drops"
  "mut_notify_early|-DCFG_DEADLINE -DMUT_NOTIFY_EARLY|safety|op begin loads scheduled_ns before its CAS"
  "mut_setfor_no_recheck|-DCFG_DEADLINE -DMUT_SETFOR_NO_RECHECK|safety|deadline_set_for never asks for a re-check"
  "mut_shield_drops|-DCFG_WINDOW -DSHIELD -DMUT_SHIELD_DROPS|safety|a cancel reaching a shielded call is not kept"
  "mut_old_keep|-DCFG_WINDOW -DSHIELD -DMUT_OLD_KEEP|safety|kept only when it interrupts the call, not when the call ends with its result (the outside attack's S1)"
  "mut_sleep_no_check|-DCFG_DEADLINE -DMUT_SLEEP_NO_CHECK|safety|driver sleeps without looking at the notify stack"
)

jobs=1
keep=0
with_mutants=0
show_trail=""
selected=()
while (($#)); do
  case "$1" in
    -j) jobs="$2"; shift 2 ;;
    -j*) jobs="${1#-j}"; shift ;;
    --keep) keep=1; shift ;;
    --mutants) with_mutants=1; shift ;;
    --show-trail) show_trail="$2"; selected+=("$2"); shift 2 ;;
    --list)
      for c in "${checks[@]}"; do IFS='|' read -r n _ k p <<<"$c"; printf '%-20s %-6s %s\n' "$n" "$k" "$p"; done
      for c in "${mutants[@]}"; do IFS='|' read -r n _ k p <<<"$c"; printf '%-20s %-6s must fail: %s\n' "$n" "$k" "$p"; done
      exit 0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) selected+=("$1"); shift ;;
  esac
done

command -v spin >/dev/null || { echo "spin not found (apt-get install spin)" >&2; exit 2; }
command -v "$cc" >/dev/null || { echo "no C compiler ($cc)" >&2; exit 2; }

# The run list: name|flags|kind|text|expect (pass or fail)
runs=()
find_entry() {
  local want="$1" e n
  for e in "${checks[@]}"; do IFS='|' read -r n _ <<<"$e"; [[ $n == "$want" ]] && { echo "$e|pass"; return 0; }; done
  for e in "${mutants[@]}"; do IFS='|' read -r n _ <<<"$e"; [[ $n == "$want" ]] && { echo "$e|fail"; return 0; }; done
  return 1
}
if ((${#selected[@]})); then
  for n in "${selected[@]}"; do
    e="$(find_entry "$n")" || { echo "no check or mutant named $n (see --list)" >&2; exit 2; }
    runs+=("$e")
  done
else
  for e in "${checks[@]}"; do runs+=("$e|pass"); done
  if ((with_mutants)); then for e in "${mutants[@]}"; do runs+=("$e|fail"); done; fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/iio-model.XXXXXX")"
cleanup() { if ((keep)); then echo "work directory kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

# Runs one check in its own directory; writes a result line to $dir/result.
run_one() {
  local name="$1" flags="$2" kind="$3" text="$4" expect="$5"
  local dir="$work/$name" ccflags panflags start end secs
  mkdir -p "$dir"
  cp "$model" "$dir/model.pml"
  start=$(date +%s.%N)
  case "$kind" in
    safety) ccflags="-DSAFETY"; panflags="" ;;
    np)     ccflags="-DNP"; panflags="-l" ;;
    ltl)    ccflags="-DNFAIR=4"; panflags="-a -f" ;;
  esac
  # shellcheck disable=SC2086
  if ! (cd "$dir" && spin $flags -a model.pml >spin.out 2>&1); then
    echo "FAIL|$name|spin -a failed: $(tail -3 "$dir/spin.out" | tr '\n' ' ')" >"$dir/result"; return
  fi
  # shellcheck disable=SC2086
  if ! (cd "$dir" && "$cc" -O2 -w $ccflags -DCOLLAPSE -DMEMLIM="$memlim" -o pan pan.c >cc.out 2>&1); then
    echo "FAIL|$name|cc failed: $(tail -3 "$dir/cc.out" | tr '\n' ' ')" >"$dir/result"; return
  fi
  # shellcheck disable=SC2086
  (cd "$dir" && ./pan $panflags -m100000 -w26 >pan.out 2>&1) || true
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
  local errors states incomplete="" first
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.out" | tail -1)
  states=$(sed -n 's/^ *\([0-9e.+]*\) states, stored.*/\1/p' "$dir/pan.out" | tail -1)
  first=$(grep -m1 -E '^pan:1:|pan: (assertion|invalid|acceptance|non-progress)' "$dir/pan.out" || true)
  if grep -qE 'reached -DMEMLIM bound|max search depth too small|out of memory' "$dir/pan.out"; then
    incomplete="search incomplete: $(grep -m1 -E 'reached -DMEMLIM bound|max search depth too small|out of memory' "$dir/pan.out")"
  fi
  if [[ -z $errors ]]; then
    echo "FAIL|$name|pan did not finish: $(tail -3 "$dir/pan.out" | tr '\n' ' ')" >"$dir/result"; return
  fi
  if [[ $expect == pass ]]; then
    if [[ -n $incomplete ]]; then
      echo "FAIL|$name|$incomplete" >"$dir/result"
    elif ((errors == 0)); then
      echo "PASS|$name|$text [$states states, ${secs}s]" >"$dir/result"
    else
      echo "FAIL|$name|$first (Tests/Model/check.sh --show-trail $name)" >"$dir/result"
    fi
  else
    if ((errors > 0)); then
      echo "PASS|$name|caught: $text -- $first [${secs}s]" >"$dir/result"
    else
      echo "FAIL|$name|mutant not caught: $text [$states states${incomplete:+, $incomplete}]" >"$dir/result"
    fi
  fi
}

show() {
  local name="$1" flags="$2" dir="$work/$1"
  if [[ ! -f $dir/model.pml.trail ]]; then
    echo "no counterexample for $name"; return
  fi
  echo "---- counterexample for $name: the interleaving (spin $flags -t) ----"
  # The model narrates its steps with printf; "@N" is the pid of a
  # requester or the driver, named from spin's list of processes.
  # shellcheck disable=SC2086
  (cd "$dir" && spin $flags -t -p model.pml 2>&1) >"$dir/trail.txt" || true
  # shellcheck disable=SC2086
  (cd "$dir" && spin $flags -t model.pml 2>&1) | awk -v procs="$dir/trail.txt" '
    BEGIN {
      while ((getline line < procs) > 0)
        if (match(line, /proc +[0-9]+ \([A-Za-z_:]+/)) {
          split(substr(line, RSTART, RLENGTH), f, /[ (:]+/)
          who[f[2]] = f[3]
        }
    }
    /^#processes/ { exit }
    /^spin: trail ends|^[0-9]+ processes created|^ *$|^Starting / { next }
    {
      sub(/^[ \t]+/, "")
      if (match($0, /^@[0-9]+ /)) {
        pid = substr($0, 2, RLENGTH - 2)
        $0 = (pid in who ? who[pid] : "pid " pid) ": " substr($0, RLENGTH + 1)
      }
      print "  " $0
    }'
  echo "---- where each process stands at the end (model.pml line numbers) ----"
  awk '/^#processes/ { on = 1 } on && /proc / { sub(/^[ \t]*[0-9]+:[ \t]*/, "  "); print }
       /assertion violated/ { print "  " $0 }' "$dir/trail.txt"
  echo "(full detail: keep the work directory with --keep and run spin $flags -t -p -g -l model.pml there)"
}

echo "spin model checks: $(spin -V | head -1); $(date -u +%Y-%m-%dT%H:%MZ)"
running=0
for e in "${runs[@]}"; do
  IFS='|' read -r name flags kind text expect <<<"$e"
  if ((jobs > 1)); then
    run_one "$name" "$flags" "$kind" "$text" "$expect" &
    running=$((running + 1))
    if ((running >= jobs)); then wait -n || true; running=$((running - 1)); fi
  else
    run_one "$name" "$flags" "$kind" "$text" "$expect"
    IFS='|' read -r verdict _ msg <"$work/$name/result"
    printf '%s %-20s %s\n' "$verdict" "$name" "$msg"
  fi
done
wait || true

passed=0
failed=0
for e in "${runs[@]}"; do
  IFS='|' read -r name flags _ <<<"$e"
  if [[ -f $work/$name/result ]]; then
    IFS='|' read -r verdict _ msg <"$work/$name/result"
  else
    verdict=FAIL; msg="no result"
  fi
  ((jobs > 1)) && printf '%s %-20s %s\n' "$verdict" "$name" "$msg"
  if [[ $verdict == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  if [[ -n $show_trail && $name == "$show_trail" ]]; then show "$name" "$flags"; fi
done
echo "$passed passed, $failed failed"
((failed == 0))
