#!/usr/bin/env bash
# (3) SIGTERM with 200 open connections, 100 of them mid-line: exit 0, every client sees EOF, shutdown line.
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
ok = True
for trial in range(5):
    p, port = start(["--idle", "30"])
    socks = []
    for i in range(200):
        s = socket.create_connection(("127.0.0.1", port), timeout=10); socks.append(s)
        s.sendall(b"whole\n" if i % 2 == 0 else b"half-a-line-no-newline")
    for i, s in enumerate(socks):
        if i % 2 == 0: assert s.recv(16) == b"whole\n"
    time.sleep(0.3)
    before = snap(p.pid)
    t0 = time.time(); p.send_signal(signal.SIGTERM)
    try: rc = p.wait(10)
    except subprocess.TimeoutExpired: print("FAIL still running 10 s after SIGTERM", snap(p.pid)); p.kill(); rc = p.wait()
    took = time.time() - t0
    out = p.stdout.read()
    eof = 0; rst = 0; data = 0; hang = 0
    for s in socks:
        s.settimeout(3)
        try:
            d = s.recv(100)
            if d == b"": eof += 1
            else: data += 1
        except ConnectionResetError: rst += 1
        except socket.timeout: hang += 1
        s.close()
    line = [l for l in out.splitlines() if l.startswith("shut down in")]
    print(f"trial {trial}: threads before {before['threads']}, rc={rc} in {took:.3f}s, eof={eof} rst={rst} data={data} hang={hang}; {line}")
    if rc != 0 or eof != 200 or not line: ok = False; print("FAIL"); print(out)
    m = re.search(r"(\d+) connections served", line[0]) if line else None
    if m and int(m.group(1)) < 0: ok = False
sys.exit(0 if ok else 1)
PY
