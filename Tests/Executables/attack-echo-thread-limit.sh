#!/usr/bin/env bash
# (4) The server under a thread limit (RLIMIT_NPROC, as user nobody: root ignores it):
# thread creation must fail, refused connections must be closed, the server must not
# crash and must serve again once load drops; SIGTERM still exits 0.
set -euo pipefail
cd "$(dirname "$0")"
[ "$(id -u)" = 0 ] || { echo "needs root (to drop to nobody under setpriv)"; exit 2; }
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
def limited(n): return ["prlimit", f"--nproc={n}", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
ok = True
def burst(port, count, payload=b"hi\n"):
    socks, refused_connect = [], 0
    for i in range(count):
        try: socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError: refused_connect += 1
    res = dict(echo=0, eof=0, rst=0, hang=0, connect_fail=refused_connect)
    for s in socks:
        try: s.sendall(payload)
        except OSError: pass
    for s in socks:
        s.settimeout(3)
        try:
            d = s.recv(16)
            res["echo" if d == payload else "eof" if d == b"" else "hang"] += 1
        except (ConnectionResetError, BrokenPipeError): res["rst"] += 1
        except socket.timeout: res["hang"] += 1
    return socks, res
# Case A: limit 40, warmed up (timer thread running), bursts of 120 concurrent connections.
N = 40
p, port = start(["--idle", "30"], limited(N))
assert echo_once(port); base = settle(p.pid, 1); print(f"A: nproc={N}, baseline", base)
for rnd in range(3):
    socks, res = burst(port, 120)
    alive = p.poll() is None
    print(f"A round {rnd}: {res}, server alive={alive}, threads={threads(p.pid) if alive else '-'}")
    for s in socks: s.close()
    if not alive: ok = False; print("FAIL server died:", p.returncode, p.stdout.read()); break
    if res["echo"] == 0: print("FAIL nothing served"); ok = False
    if res["hang"]: print("FAIL refused connections left open (hang)"); ok = False
    if res["echo"] == 120: print("NOTE: thread creation never failed at this limit")
    s2 = settle(p.pid, base["threads"], 10)
    again = all(echo_once(port) for _ in range(20))
    print(f"A round {rnd} after drop: {s2}, serves again={again}")
    if not again or s2["threads"] != base["threads"] or s2["fds"] != base["fds"]: print("FAIL not back to baseline"); ok = False
if p.poll() is None:
    p.send_signal(signal.SIGTERM); rc = p.wait(10); out = p.stdout.read().strip(); print("A exit", rc, out)
    if rc != 0: ok = False
# Case B: limit 3 for the user: main + signal thread + one connection thread; the timer
# thread (started lazily by the first connection's deadline) cannot start.
p, port = start(["--idle", "30"], limited(3))
try: r = echo_once(port, timeout=3)
except OSError as e: r = repr(e)
time.sleep(0.5)
rc = p.poll(); out = p.stdout.read() if rc is not None else ""
print(f"B: nproc=3, first connection: echo={r}; server exit={rc} {out.strip()[-300:]}")
if rc is not None: ok = False; print("FAIL B: server died on the first connection under a thread limit")
else:
    p.send_signal(signal.SIGTERM); p.wait(10)
# Case C: limit 12, cold server (no timer thread yet), a burst of 60 connections at once.
deaths = 0
for trial in range(10):
    p, port = start(["--idle", "30"], limited(12))
    socks, res = burst(port, 60)
    for s in socks: s.close()
    time.sleep(0.3)
    rc = p.poll()
    if rc is not None:
        deaths += 1; out = p.stdout.read().strip(); print(f"C trial {trial}: {res} server died rc={rc}: {out[-200:]}")
    else:
        p.send_signal(signal.SIGTERM); rc = p.wait(10)
        if rc != 0: deaths += 1; print(f"C trial {trial}: SIGTERM exit {rc}")
print(f"C: cold server, nproc=12, burst of 60: {deaths}/10 servers died")
if deaths: ok = False
sys.exit(0 if ok else 1)
PY
