#!/usr/bin/env bash
# Runs the example server as a process, the way the README says, in a debug
# or a release build (argument: debug|release; default debug): bad options
# exit 64, a taken port exits 1, lines are echoed to a real client, an idle
# client is closed after --idle, and SIGTERM shuts down gracefully (exit 0,
# the shutdown line, open clients see the end of the stream).
set -euo pipefail
cd "$(dirname "$0")/../.."
config=${1:-debug}
swift build -c "$config" --product interruptio-echo-server 2>&1 | tail -1
bin=$(swift build -c "$config" --show-bin-path)/interruptio-echo-server
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL ($config): $*"; [ -f "$work/out" ] && sed 's/^/  server: /' "$work/out"; exit 1; }

"$bin" --help | grep -q -- '--write-timeout' || fail "--help does not list --write-timeout"
for bad in "--port 70000" "--port abc" "--idle=-1" "--write-timeout=0" "--idle=nan" "--bogus"; do
  set +e; "$bin" $bad >/dev/null 2>&1; rc=$?; set -e
  [ "$rc" = 64 ] || fail "'$bad' exited $rc, expected 64"
done

"$bin" --port 0 --idle 1 --write-timeout 2 >"$work/out" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do grep -q '^echoing lines on' "$work/out" && break; sleep 0.1; done
port=$(sed -n 's/^echoing lines on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$work/out")
[ -n "$port" ] || fail "no banner with the port"

set +e; "$bin" --port "$port" >/dev/null 2>"$work/taken"; rc=$?; set -e
[ "$rc" = 1 ] || fail "a second server on port $port exited $rc, expected 1"
grep -q "cannot listen" "$work/taken" || fail "no message for a taken port"

python3 - "$port" <<'PY' || fail "client checks"
import socket, sys, time
port = int(sys.argv[1])
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s
# Lines are echoed, also when they arrive in pieces.
c = connect()
c.sendall(b"hello\nwor")
time.sleep(0.05)
c.sendall(b"ld\n")
got = b""
while got.count(b"\n") < 2:
    chunk = c.recv(64)
    assert chunk, "server closed early"
    got += chunk
assert got == b"hello\nworld\n", got
# A last line without its newline is echoed when the client ends its side.
h = connect()
h.sendall(b"abc\ndef")
h.shutdown(socket.SHUT_WR)
got = b""
while True:
    chunk = h.recv(64)
    if not chunk:
        break
    got += chunk
assert got == b"abc\ndef", got
# An idle client is closed after --idle (1 s): EOF, not before 0.9 s.
idle = connect()
start = time.monotonic()
idle.settimeout(5)
assert idle.recv(16) == b"", "idle client got data"
waited = time.monotonic() - start
assert 0.9 <= waited <= 3.5, f"idle close after {waited:.2f} s"
print(f"echoed 2 lines; idle client closed after {waited:.2f} s")
PY

# A client left open across the shutdown sees the end of the stream.
exec 3<>"/dev/tcp/127.0.0.1/$port"
sleep 0.2
kill -TERM "$server_pid"
set +e
for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$server_pid" 2>/dev/null && fail "still running 5 s after SIGTERM"
wait "$server_pid"; rc=$?
set -e
server_pid=
[ "$rc" = 0 ] || fail "exited $rc after SIGTERM, expected 0"
grep -q '^shut down in [0-9.]* ms: [0-9]* connections served, [0-9]* closed for idleness$' "$work/out" \
  || fail "no shutdown line"
timeout 2 cat <&3 >/dev/null || fail "the open client did not see the end of the stream"
exec 3<&-
sed 's/^/  server: /' "$work/out"
echo "ok   interruptio-echo-server ($config) as a process: options, echo, idle close, SIGTERM"
