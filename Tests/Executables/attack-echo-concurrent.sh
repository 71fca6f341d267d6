#!/usr/bin/env bash
# (2) 300 concurrent connections, each echoes a line, then all closed at once: threads back to baseline.
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'PY'
import os, re, socket, subprocess, sys, time, signal
BIN = os.environ.get("BIN", os.path.abspath("../../.build/release/interruptio-echo-server"))
def start(extra=(), prefix=()):
    p = subprocess.Popen(list(prefix) + [BIN, "--port", "0"] + list(extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = p.stdout.readline()
    m = re.search(r"127\.0\.0\.1:(\d+);", line)
    if not m: print("no banner:", line); p.kill(); sys.exit(1)
    return p, int(m.group(1))
def threads(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("Threads:"): return int(l.split()[1])
def maps(pid): return sum(1 for _ in open(f"/proc/{pid}/maps"))
def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
def fds(pid): return len(os.listdir(f"/proc/{pid}/fd"))
def snap(pid): return dict(threads=threads(pid), maps=maps(pid), rss_kb=rss(pid), fds=fds(pid))
def settle(pid, want_threads, t=5.0):
    end = time.time() + t
    while time.time() < end and threads(pid) > want_threads: time.sleep(0.05)
    time.sleep(0.2)
    return snap(pid)
def echo_once(port, payload=b"ping\n", timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(payload); got = b""
    while len(got) < len(payload):
        c = s.recv(4096)
        if not c: break
        got += c
    s.close(); return got == payload
p, port = start(["--idle", "30"])
ok = True
try:
    for _ in range(10): assert echo_once(port)
    base = settle(p.pid, 1); print("baseline:", base)
    for rnd in range(3):
        socks = []
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=10); socks.append(s)
        for s in socks: s.sendall(b"x\n")
        bad = 0
        for s in socks:
            if s.recv(16) != b"x\n": bad += 1
        peak = snap(p.pid); print("round", rnd, "peak:", peak, "bad echoes:", bad)
        if bad: ok = False
        if peak["threads"] < base["threads"] + 300: print("FAIL fewer threads than connections?"); ok = False
        for s in socks: s.close()
        end = settle(p.pid, base["threads"], 10); print("round", rnd, "after close:", end)
        if end["threads"] != base["threads"]: print("FAIL threads", end["threads"], "!= baseline", base["threads"]); ok = False
        if end["fds"] != base["fds"]: print("FAIL fds", end["fds"]); ok = False
        if rnd > 0 and end["maps"] > prev["maps"] + 2: print("FAIL maps grew across rounds", prev["maps"], "->", end["maps"]); ok = False
        prev = end
finally:
    p.send_signal(signal.SIGTERM); rc = p.wait(10); print("exit", rc, p.stdout.read().strip())
    if rc != 0: ok = False
sys.exit(0 if ok else 1)
PY
