#!/usr/bin/env bash
# (extra) The server out of descriptors (RLIMIT_NOFILE 16): accept fails with EMFILE while
# the backlog holds connections. The acceptor must not spin a CPU, and must serve again.
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
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
ok = True
p, port = start(["--idle", "30"], ["prlimit", "--nofile=16"])
assert echo_once(port)
socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(30)]
time.sleep(0.5)
c0 = cpu(p.pid); time.sleep(2); c1 = cpu(p.pid)
print(f"30 connections held, fds={fds(p.pid)}, threads={threads(p.pid)}, server CPU over 2 s wall: {c1-c0:.2f} s")
if c1 - c0 > 0.5: print("FAIL: acceptor busy-loops on EMFILE"); ok = False
for s in socks: s.close()
time.sleep(1)
again = all(echo_once(port) for _ in range(5)); print("serves again:", again, snap(p.pid))
if not again: ok = False
p.send_signal(signal.SIGTERM); rc = p.wait(10); print("exit", rc, p.stdout.read().strip())
if rc != 0: ok = False
sys.exit(0 if ok else 1)
PY
