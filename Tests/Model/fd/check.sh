#!/usr/bin/env bash
# Exhaustive spin checks of the descriptor protocol model (fd_protocol.pml).
# See Tests/Model/fd/README.md for what each check shows.
#
#   Tests/Model/fd/check.sh              every check, mutant, variant and
#                                        finding; exit 1 if a check fails, a
#                                        mutant or finding is not caught, or
#                                        a variant fails
#   Tests/Model/fd/check.sh NAME...      only those
#   Tests/Model/fd/check.sh --show-trail NAME
#                                        run NAME; if spin finds a violation,
#                                        print the counterexample step by step
#   Tests/Model/fd/check.sh --list       list them
#   -j N                                 run N at once (default 2; the largest
#                                        search holds about 300 MB, two at
#                                        once about 0.5 GB; about 75 CPU-s
#                                        in all)
#   --keep                               keep the work directory
#
# Needs spin (Debian: apt-get install spin) and a C compiler. MODEL_MEMLIM
# (MB, default 1024) bounds pan's memory; a search that hits it fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
model="$here/fd_protocol.pml"
memlim="${MODEL_MEMLIM:-1024}"
cc="${CC:-cc}"

# The code as it is (fd.c): the three fixes the model's first round found
# (README.md), and the stricter properties that caught their absence.
fixes="-DVAR_ENTER_CHECKS_READ -DVAR_NESTED_KEEPS_OUTER -DVAR_END_CHECK_BEFORE_LEAVE -DSTRICT_BEGUN -DCHECK_FREE"
before_close="-DHAVE_CLOSER"
before_setter="-DHAVE_SETTER"
close="$before_close $fixes"
setter="$before_setter $fixes"
both="-DHAVE_CLOSER -DHAVE_SETTER -DNSET=1 -DNITER=1 $fixes"

# name | spin -D flags | kind (safety, np, ltl) | what it shows
checks=(
  "close|$close|safety|P1 (no kernel entry on a closed or reused number, close(2) with nobody in the kernel), P4 (close never yields ETIMEDOUT); 2 callers x 2 calls, either side"
  "close_nt|$close -DNO_TIMEOUT|safety|the same with no futex timeout: no invalid end state, and the closer passes its loop again only after a count changed: close and every caller finish, woken by the protocol alone (P2)"
  "close_nt_np|$close -DNO_TIMEOUT|np|no cycle at all: every execution of close_nt terminates (P2 directly)"
  "close_ltl|$close -DNITER1=1 -DLTL_P2|ltl|P2 with the 5 ms timeout: close returns and every caller returns, under weak fairness (2 + 1 calls)"
  "deadline|$setter|safety|P3 invariant: once the setter has looked, no call in flight holds a later deadline than its word unasked; P4: ETIMEDOUT only for a passed deadline"
  "deadline_ltl|$setter -DLTL_P3|ltl|P3: a passed read deadline releases every read call, under weak fairness"
  "both|$both|safety|P1, P3 invariant, P4 with a setter's passed deadline racing the close (timeout)"
  "both_nt|$both -DNO_TIMEOUT|safety|the same with no timeout; no invalid end state, the closer's loop bounded (P2 with a setter)"
  "close_nested_ltl|$close -DNESTED -DNITER=1 -DLTL_P2|ltl|P2 with caller 0's syscall interrupted by an application handler that makes a nested call on another descriptor"
  "deadline_nested|$setter -DNESTED|safety|P3 with the handler's nested call: the outer call keeps its publication, a setter's scan finds it"
  "close_nested_nt|$close -DNO_TIMEOUT -DNESTED|safety|close ends with the handler's nested call, without the timeout"
)

# Known-bad variants of one C step each: must be caught.
mutants=(
  "mut_set_count_first|$setter -DMUT_SET_COUNT_FIRST|safety|setter loads the count before storing the word"
  "mut_no_reread|$setter -DMUT_NO_REREAD|safety|op begin trusts the word it loaded before its CAS (no seq_cst load after the CAS sets IN_OP)"
  "mut_close_read_only|$close -DMUT_CLOSE_READ_ONLY|safety|closer closes the number once the read side's count is 0"
  "mut_close_word_first|$close -DMUT_CLOSE_WORD_FIRST|safety|closer stores CLOSED_WORD before setting CLOSED"
  "mut_no_wake|$close -DNO_TIMEOUT -DMUT_NO_WAKE|safety|the last caller out does not FUTEX_WAKE the closer (caught without the timeout)"
  "mut_no_futex_wait|$close -DNO_TIMEOUT -DMUT_NO_FUTEX_WAIT|safety|closer re-scans without sleeping (a busy wait): shows close_nt's loop bound is not vacuous"
  "mut_no_closed_word|$close -DMUT_NO_CLOSED_WORD -DLTL_P2|ltl|closer sets CLOSED but never stores CLOSED_WORD"
  "mut_enter_ignores_closed|$close -DMUT_ENTER_IGNORES_CLOSED|safety|enter() counts a call in although CLOSED is set"
  "mut_no_ebadf_map|$both -DMUT_NO_EBADF_MAP|safety|end reports ETIMEDOUT as is when CLOSED is set"
)

# Variants of one C step each that the model shows harmless: must pass.
variants=(
  "var_v1|$both -DNO_TIMEOUT -DV1|safety|the first version (870d370): source stored at every begin and cleared at end after the count drops, word loaded once after the CAS"
  "var_end_clear_first|$close -DNO_TIMEOUT -DV1 -DVAR_END_CLEAR_FIRST|safety|the first version with end clearing the source before the count drops"
  "var_count_first|$close -DNO_TIMEOUT -DVAR_COUNT_FIRST|safety|begin counts the call before publishing the source"
  "var_count_first_dl|$setter -DVAR_COUNT_FIRST|safety|the same against two settings and two calls each"
  "var_scan_once|$close -DNO_TIMEOUT -DVAR_SCAN_ONCE|safety|closer scans only on its first pass (the re-scans serve refused signals)"
)

# The code before each fix the model found (README.md): must be caught.
findings=(
  "finding_free|$before_close -DCHECK_FREE|safety|iio_fd_end read f->calls after its leave: iio_fd_close may have returned"
  "finding_nested|$before_setter -DNESTED|safety|a nested call in an application handler republished the thread's source: a setter's scan in that window missed the outer call, left blocked past a passed deadline"
  "finding_nested_nt|$before_close -DNO_TIMEOUT -DNESTED|safety|the same window against close: without its 5 ms timeout close would wait forever"
  "finding_begun|$before_close -DSTRICT_BEGUN|safety|a write call counted in between close's two fetch_ors entered the kernel after iio_fd_closed() said 1"
)

jobs=2
keep=0
show_trail=""
selected=()
while (($#)); do
  case "$1" in
    -j) jobs="$2"; shift 2 ;;
    -j*) jobs="${1#-j}"; shift ;;
    --keep) keep=1; shift ;;
    --show-trail) show_trail="$2"; selected+=("$2"); shift 2 ;;
    --list)
      for c in "${checks[@]}"; do IFS='|' read -r n _ k p <<<"$c"; printf '%-26s %-6s %s\n' "$n" "$k" "$p"; done
      for c in "${mutants[@]}"; do IFS='|' read -r n _ k p <<<"$c"; printf '%-26s %-6s must be caught: %s\n' "$n" "$k" "$p"; done
      for c in "${variants[@]}"; do IFS='|' read -r n _ k p <<<"$c"; printf '%-26s %-6s harmless, must pass: %s\n' "$n" "$k" "$p"; done
      for c in "${findings[@]}"; do IFS='|' read -r n _ k p <<<"$c"; printf '%-26s %-6s finding, must be caught: %s\n' "$n" "$k" "$p"; done
      exit 0 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
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
  for e in "${checks[@]}" "${variants[@]}"; do IFS='|' read -r n _ <<<"$e"; [[ $n == "$want" ]] && { echo "$e|pass"; return 0; }; done
  for e in "${mutants[@]}" "${findings[@]}"; do IFS='|' read -r n _ <<<"$e"; [[ $n == "$want" ]] && { echo "$e|fail"; return 0; }; done
  return 1
}
if ((${#selected[@]})); then
  for n in "${selected[@]}"; do
    e="$(find_entry "$n")" || { echo "no check named $n (see --list)" >&2; exit 2; }
    runs+=("$e")
  done
else
  for e in "${checks[@]}" "${variants[@]}"; do runs+=("$e|pass"); done
  for e in "${mutants[@]}" "${findings[@]}"; do runs+=("$e|fail"); done
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/iio-fd-model.XXXXXX")"
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
  # A search expected to stop at a counterexample is not worth optimising.
  if [[ $expect == fail ]]; then ccflags="$ccflags -O0"; else ccflags="$ccflags -O1"; fi
  # shellcheck disable=SC2086
  if ! (cd "$dir" && "$cc" -w $ccflags -DCOLLAPSE -DMEMLIM="$memlim" -o pan pan.c >cc.out 2>&1); then
    echo "FAIL|$name|cc failed: $(tail -3 "$dir/cc.out" | tr '\n' ' ')" >"$dir/result"; return
  fi
  # With --show-trail, a safety search looks for the shortest counterexample.
  if [[ $name == "$show_trail" && $kind == safety ]]; then panflags="-i"; fi
  # shellcheck disable=SC2086
  (cd "$dir" && ./pan $panflags -m100000 -w22 >pan.out 2>&1) || true
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
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
      echo "FAIL|$name|$first (Tests/Model/fd/check.sh --show-trail $name)" >"$dir/result"
    fi
  else
    if ((errors > 0)); then
      echo "PASS|$name|caught: $text -- $first [${secs}s]" >"$dir/result"
    else
      echo "FAIL|$name|not caught: $text [$states states${incomplete:+, $incomplete}]" >"$dir/result"
    fi
  fi
}

show() {
  local name="$1" flags="$2" dir="$work/$1"
  if [[ ! -f $dir/model.pml.trail ]]; then
    echo "no counterexample for $name"; return
  fi
  echo "---- counterexample for $name: the interleaving (spin $flags -t) ----"
  # The model narrates its steps with printf; "@N" is the pid of the setter,
  # the closer or the reopen process, named from spin's list of processes.
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
    /^spin: trail ends|^[0-9]+ processes created|^ *$|^Starting |^ltl / { next }
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
       /assertion violated|<<<<<START OF CYCLE>>>>>/ { print "  " $0 }' "$dir/trail.txt"
  echo "(full detail: keep the work directory with --keep and run spin $flags -t -p -g -l model.pml there)"
}

echo "spin model checks (descriptor protocol): $(spin -V | head -1); $(date -u +%Y-%m-%dT%H:%MZ)"
t0=$(date +%s)
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
    printf '%s %-26s %s\n' "$verdict" "$name" "$msg"
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
  ((jobs > 1)) && printf '%s %-26s %s\n' "$verdict" "$name" "$msg"
  if [[ $verdict == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  if [[ -n $show_trail && $name == "$show_trail" ]]; then show "$name" "$flags"; fi
done
echo "$passed passed, $failed failed ($(($(date +%s) - t0))s)"
((failed == 0))
