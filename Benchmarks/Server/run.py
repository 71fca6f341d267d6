#!/usr/bin/env python3
"""Echo-server benchmark (issue 15): thread per connection with InterruptIO
deadlines against SwiftNIO, Go's net and plain C, under one closed-loop load
generator.

    python3 Benchmarks/Server/run.py            # the full run (about 7 min on a quiet machine)
    python3 Benchmarks/Server/run.py --quick    # CI: builds, echo, deadlines, SIGTERM

Builds the four servers and the generator (Swift: `swift build -c release
--product ...` in Benchmarks/; C: cc; Go: go build, with its cache under
Benchmarks/.build-server/), then runs each server alone against the
generator at each connection count, one at a time, rotating the servers'
order from one repetition and count to the next so that machine drift
spreads evenly. After each load the generator keeps its connections open;
the runner sends SIGTERM and times the server's exit, which must be status 0
with every connection closed by the server.

On a shared machine other processes are the noise: each run waits (at most
--quiet-wait seconds) until they use at most half of --max-others cores,
and a run during which they used more than --max-others cores (the
generator measures it from /proc/stat) is run again, at most --attempts
times. The table shows what they used. Under contention a server with many
runnable threads takes a larger share of the CPU from the other processes
than one with two event-loop threads (the scheduler is fair per thread), so
noise favours the thread-per-connection servers.

Prints one table (medians over the repetitions): throughput relative to
the best server at that count (the median of the per-repetition ratios),
latency p50/p99/p99.9, the server's RSS and thread count at the end of the
load (/proc/PID/status), its CPU time and context switches (all threads)
per request, how long after the first request every connection had had its
first echo (accepting and starting N connections), the time from SIGTERM to
exit, and the other processes' CPU. Every run's raw figures go to --json
(default Benchmarks/.build-server/last-run.json). --quick and --deadlines
also check each server's idle and write deadlines.

Exit status: 0 when every run echoed correctly (every response equal to its
request, no connection failed) and every server exited 0 on SIGTERM after
closing its connections; 1 otherwise. No figure is checked against a target.
"""
import argparse
import json
import os
import platform
import re
import resource
import select
import shutil
import socket
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)              # Benchmarks/
OUT = os.path.join(PACKAGE, ".build-server")  # gitignored (.build-*)
SERVERS = ["interruptio", "nio", "go", "c"]
LABELS = {
    "interruptio": "InterruptIO, thread/conn",
    "interruptio-per-call": "InterruptIO, per-call deadlines",
    "nio": "SwiftNIO, 1 loop/core",
    "go": "Go net, goroutine/conn",
    "c": "C, thread/conn, SO_RCVTIMEO",
}


def log(message):
    print(message, file=sys.stderr, flush=True)


def run_checked(command, **kwargs):
    log("$ " + " ".join(command))
    subprocess.run(command, check=True, **kwargs)


def build():
    """Builds the servers and the generator."""
    os.makedirs(OUT, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    for tool, hint in ((cc, "a C compiler"), ("go", "apt-get install golang-go"), ("swift", "Swift 6.1 or later")):
        if not shutil.which(tool):
            sys.exit(f"run.py: {tool} not found ({hint})")
    for source, binary in (("loadgen.c", "loadgen"), ("echo-server.c", "echo-server-c")):
        run_checked([cc, "-O2", "-std=c11", "-Wall", "-Wextra", "-pthread",
                     "-o", os.path.join(OUT, binary), os.path.join(HERE, source)])
    go_env = dict(os.environ, GOCACHE=os.path.join(OUT, "gocache"), GOPATH=os.path.join(OUT, "gopath"),
                  GOPROXY="off", GOFLAGS="", GO111MODULE="on", CGO_ENABLED="0")
    run_checked(["go", "build", "-o", os.path.join(OUT, "echo-server-go"), "."],
                cwd=os.path.join(HERE, "go"), env=go_env)
    for product in ("echo-bench-interruptio", "echo-bench-nio"):
        run_checked(["swift", "build", "-c", "release", "--package-path", PACKAGE, "--product", product])


def binaries():
    """{server: argv} and the generator's path."""
    bin_path = subprocess.run(["swift", "build", "-c", "release", "--package-path", PACKAGE, "--show-bin-path"],
                              check=True, capture_output=True, text=True).stdout.strip()
    swift_server = os.path.join(bin_path, "echo-bench-interruptio")
    servers = {
        "interruptio": [swift_server],
        "interruptio-per-call": [swift_server, "--per-call"],
        "nio": [os.path.join(bin_path, "echo-bench-nio")],
        "go": [os.path.join(OUT, "echo-server-go")],
        "c": [os.path.join(OUT, "echo-server-c")],
    }
    return servers, os.path.join(OUT, "loadgen")


def raise_fd_limit(connections):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = connections + 256
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        sys.exit(f"run.py: {connections} connections need {need} descriptors, the hard limit is {hard} "
                 f"(raise it: ulimit -Hn {need})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers and the generator inherit it


def read_line(pipe, timeout, what):
    """One line from a child's stdout within timeout seconds."""
    ready, _, _ = select.select([pipe], [], [], timeout)
    if not ready:
        raise RuntimeError(f"{what}: nothing on stdout within {timeout} s")
    line = pipe.readline()
    if not line:
        raise RuntimeError(f"{what}: stdout closed")
    return line.decode().strip()


def one_run(name, argv, loadgen, connections, duration, warmup, pin=False):
    """One server, one load, one SIGTERM. Returns the run's record. With pin,
    the generator runs on CPU 0 and the server on the others (taskset)."""
    record = {"server": name, "connections": connections, "ok": False}
    cores = os.cpu_count() or 1
    server_cpus = ["taskset", "-c", f"1-{cores - 1}"] if pin and cores > 1 else []
    loadgen_cpus = ["taskset", "-c", "0"] if pin and cores > 1 else []
    server = generator = None
    try:
        server, port = start_server(server_cpus + argv, name)
        generator = subprocess.Popen(
            loadgen_cpus + [loadgen, "--port", str(port), "--connections", str(connections),
             "--duration", str(duration), "--warmup", str(warmup),
             "--server-pid", str(server.pid), "--hold"], stdout=subprocess.PIPE)
        record.update(json.loads(read_line(generator.stdout, duration + warmup + 60, "loadgen")))
        # The load is over; the N connections are open and idle.
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)
        record["server_status"] = server.wait(timeout=30)
        record["shutdown_ms"] = (time.monotonic() - start) * 1e3
        record.update(json.loads(read_line(generator.stdout, 35, "loadgen (hold)")))
        record["loadgen_status"] = generator.wait(timeout=10)
        record["ok"] = (record["loadgen_status"] == 0 and record["server_status"] == 0
                        and record["mismatches"] == 0 and record["errors"] == 0
                        and record["closed_by_server"] == record["held"] == connections)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as error:
        record["failure"] = str(error)
    finally:
        for child in (generator, server):
            if child and child.poll() is None:
                child.kill()
                child.wait()
    return record


def median(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None and r[key] >= 0 and r.get("requests", 1)]
    return statistics.median(values) if values else None


def summarize(records, servers, counts):
    """Medians over the repetitions; throughput relative to the best server
    is the median of the per-repetition ratios (each repetition's servers
    ran within seconds of each other, so machine drift cancels)."""
    rows = []
    for n in counts:
        ok = [r for r in records if r["connections"] == n and r["ok"]]
        best = {rep: max(r["rps"] for r in ok if r["rep"] == rep) for rep in {r["rep"] for r in ok}}
        for s in servers:
            runs = [r for r in ok if r["server"] == s]
            row = {"server": s, "connections": n, "runs": len(runs),
                   "failed": len([r for r in records if r["server"] == s and r["connections"] == n and not r["ok"]])}
            for key in ("rps", "p50_us", "p99_us", "p999_us", "server_rss_kb", "server_threads", "shutdown_ms",
                        "all_served_ms"):
                row[key] = median(runs, key)
            row["relative"] = median([{"x": r["rps"] / best[r["rep"]]} for r in runs], "x")
            row["server_cpu_us_per_req"] = median(
                [{"x": r["server_cpu_s"] / r["requests"] * 1e6} for r in runs if r.get("server_cpu_s", -1) >= 0], "x")
            row["server_switches_per_req"] = median(
                [{"x": r["server_switches"] / r["requests"]} for r in runs if r.get("server_switches", -1) >= 0], "x")
            row["others_cores"] = median([{"x": r["others_cpu_s"] / r["duration_s"]} for r in runs
                                          if r.get("others_cpu_s") is not None], "x")
            rows.append(row)
    return rows


def fmt(value, spec, missing="–"):
    return missing if value is None else format(value, spec)


def table(rows):
    lines = ["| N | server | req/s | rel. | p50 µs | p99 µs | p99.9 µs | RSS MiB | threads "
             "| server CPU µs/req | context switches/req | all N served once, ms | SIGTERM→exit ms "
             "| other processes, cores |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        note = f" ({r['failed']} failed)" if r["failed"] else ""
        lines.append(
            f"| {r['connections']:,} | {LABELS.get(r['server'], r['server'])}{note} | {fmt(r['rps'], ',.0f')} | "
            f"{fmt(r['relative'], '.2f')} | {fmt(r['p50_us'], '.0f')} | {fmt(r['p99_us'], '.0f')} | "
            f"{fmt(r['p999_us'], '.0f')} | {fmt(r['server_rss_kb'] and r['server_rss_kb'] / 1024, '.1f')} | "
            f"{fmt(r['server_threads'], '.0f')} | {fmt(r['server_cpu_us_per_req'], '.1f')} | "
            f"{fmt(r['server_switches_per_req'], '.2f')} | {fmt(r['all_served_ms'], '.1f')} | "
            f"{fmt(r['shutdown_ms'], '.1f')} | {fmt(r['others_cores'], '.2f')} |")
    return "\n".join(lines)


def memory_per_connection(rows, counts):
    """Resident memory each extra connection costs, between the two largest counts."""
    if len(counts) < 2:
        return ""
    low, high = sorted(counts)[-2:]
    lines = [f"RSS per connection, ({high:,} − {low:,} connections) / {high - low:,}:"]
    for s in dict.fromkeys(r["server"] for r in rows):
        a = next((r["server_rss_kb"] for r in rows if r["server"] == s and r["connections"] == low), None)
        b = next((r["server_rss_kb"] for r in rows if r["server"] == s and r["connections"] == high), None)
        if a is not None and b is not None:
            lines.append(f"  {LABELS.get(s, s)}: {(b - a) / (high - low):.1f} KiB")
    return "\n".join(lines)


def start_server(argv, what):
    """Starts a server; returns the process and its port."""
    server = subprocess.Popen(argv, stdout=subprocess.PIPE)
    first = read_line(server.stdout, 30, what)
    match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", first)
    if not match:
        server.kill()
        raise RuntimeError(f"{what}: unexpected first line {first!r}")
    return server, int(match.group(1))


def machine_busy():
    """CPU seconds all processes have used (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(limit, most):
    """Waits (at most `most` seconds) until other processes use at most
    `limit` cores over half a second; returns what they used last."""
    until = time.monotonic() + most
    while True:
        before = machine_busy()
        time.sleep(0.5)
        used = (machine_busy() - before) / 0.5
        if used <= limit or time.monotonic() >= until:
            return used


def deadline_check(servers, argvs):
    """Every server at once: a silent connection must be closed by the
    server after its 10 s idle read deadline, and a connection that sends
    without ever reading (so the server's echo blocks) after its 5 s write
    deadline. Returns the failures (strings); prints the times."""
    failures, started, watched = [], [], {}
    poller = select.poll()
    for name in servers:
        try:
            server, port = start_server(argvs[name], name)
        except RuntimeError as error:
            failures.append(str(error))
            continue
        started.append((name, server))
        for kind in ("idle", "write"):
            s = socket.create_connection(("127.0.0.1", port))
            s.setblocking(False)
            watched[s.fileno()] = (name, kind, s, time.monotonic())
            poller.register(s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    closed = {}
    chunk = b"x" * 65536
    until = time.monotonic() + 14
    while len(closed) < len(watched) and time.monotonic() < until:
        for fd, (name, kind, s, _) in watched.items():  # keep every writer's echo blocked
            if kind == "write" and fd not in closed:
                try:
                    while s.send(chunk) > 0:
                        pass
                except (BlockingIOError, OSError):
                    pass
        for fd, _ in poller.poll(20):
            if fd not in closed:
                closed[fd] = time.monotonic() - watched[fd][3]
                poller.unregister(fd)
    expected = {"idle": (9.9, 11.5), "write": (4.9, 7.0)}
    for fd, (name, kind, s, _) in watched.items():
        took = closed.get(fd)
        low, high = expected[kind]
        log(f"{name}: {kind} connection closed by the server after "
            + (f"{took:.2f} s" if took is not None else "more than 14 s"))
        if took is None or not low <= took <= high:
            failures.append(f"{name}: the {kind} deadline closed the connection after "
                            f"{'never' if took is None else f'{took:.2f} s'}, not within {low}-{high} s")
        s.close()
    for name, server in started:
        server.send_signal(signal.SIGTERM)
        try:
            if server.wait(timeout=30) != 0:
                failures.append(f"{name}: exit status {server.returncode} after SIGTERM")
        except subprocess.TimeoutExpired:
            server.kill()
            failures.append(f"{name}: still running 30 s after SIGTERM")
    return failures


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": model}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="CI mode: 4 connections, 1 s per server, one repetition")
    parser.add_argument("--duration", type=float, default=3, help="measured seconds per run (3)")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured seconds before each run (1)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (5)")
    parser.add_argument("--max-others", type=float, default=0.3,
                        help="run again a run during which other processes used more than this many cores "
                             "(0: never; default 0.3)")
    parser.add_argument("--attempts", type=int, default=3, help="at most this many tries of a disturbed run (3)")
    parser.add_argument("--quiet-wait", type=float, default=30,
                        help="before each run, wait at most this many seconds for other processes to use at most "
                             "half of --max-others (30)")
    parser.add_argument("--connections", default="10,100,1000", help="connection counts (10,100,1000)")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help="servers, of " + ", ".join(LABELS) + f" (default {','.join(SERVERS)})")
    parser.add_argument("--json", default=os.path.join(OUT, "last-run.json"), help="where the raw figures go")
    parser.add_argument("--no-build", action="store_true", help="use the binaries already built")
    parser.add_argument("--deadlines", action="store_true",
                        help="also check each server's idle (10 s) and write (5 s) deadlines (about 12 s; --quick does)")
    parser.add_argument("--pin", action="store_true",
                        help="an experiment, not the default: the generator on CPU 0, the server on the others")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.reps, args.connections, args.deadlines = 1, 0.2, 1, "4", True
        args.max_others = 0
    counts = [int(c) for c in args.connections.split(",")]
    servers = args.servers.split(",")
    unknown = [s for s in servers if s not in LABELS]
    if unknown:
        parser.error(f"unknown server {unknown[0]}")

    if not args.no_build:
        build()
    argvs, loadgen = binaries()
    raise_fd_limit(max(counts))

    info = machine()
    log(f"machine: {info['nproc']} cores, Linux {info['kernel']}, {info['cpu']}")
    log(f"{len(servers)} servers x {len(counts)} counts x {args.reps} repetitions, "
        f"{args.warmup} s warm-up + {args.duration} s measured each")
    records = []
    for rep in range(args.reps):
        for index, n in enumerate(counts):
            shift = (rep + index) % len(servers)
            for name in servers[shift:] + servers[:shift]:
                for attempt in range(1, args.attempts + 1):
                    if args.max_others > 0:
                        wait_for_quiet(args.max_others / 2, args.quiet_wait)
                    record = one_run(name, argvs[name], loadgen, n, args.duration, args.warmup, args.pin)
                    record["rep"], record["attempt"] = rep, attempt
                    others = record.get("others_cpu_s", -1) / args.duration
                    if not record["ok"] or args.max_others <= 0 or others <= args.max_others:
                        break
                    log(f"rep {rep + 1} N={n} {name}: other processes used {others:.2f} cores "
                        f"(more than {args.max_others}): "
                        + ("run again" if attempt < args.attempts else "kept, no tries left"))
                records.append(record)
                status = "ok" if record["ok"] else "FAILED: " + record.get(
                    "failure", f"server exit {record.get('server_status')}, loadgen exit "
                               f"{record.get('loadgen_status')}, mismatches {record.get('mismatches')}, "
                               f"errors {record.get('errors')}, closed {record.get('closed_by_server')}"
                               f" of {record.get('held')}")
                log(f"rep {rep + 1} N={n} {name}: {record.get('rps', 0):,.0f} req/s, "
                    f"p99 {record.get('p99_us', 0):.0f} µs, SIGTERM->exit {record.get('shutdown_ms', 0):.1f} ms, "
                    f"others {record.get('others_cpu_s', -1) / args.duration:.2f} cores: {status}")

    rows = summarize(records, servers, counts)
    print(f"Machine: {info['nproc']} cores, Linux {info['kernel']}, {info['cpu']}; "
          f"{args.reps} repetitions x {args.duration:g} s (+{args.warmup:g} s warm-up), medians"
          f"{'; generator pinned to CPU 0, server to the others' if args.pin else ''}.\n")
    print(table(rows))
    extra = memory_per_connection(rows, counts)
    if extra:
        print("\n" + extra)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": info, "arguments": vars(args), "runs": records, "summary": rows}, f, indent=1)
    failed = [r for r in records if not r["ok"]]
    if failed:
        log(f"run.py: {len(failed)} of {len(records)} runs failed")
    else:
        log(f"run.py: all {len(records)} runs echoed correctly and every server exited 0 on SIGTERM")
    deadline_failures = deadline_check(servers, argvs) if args.deadlines else []
    for failure in deadline_failures:
        log("run.py: " + failure)
    if args.deadlines and not deadline_failures:
        log("run.py: every server closed an idle connection at its 10 s read deadline and a stuck writer at its 5 s write deadline")
    return 1 if failed or deadline_failures else 0


if __name__ == "__main__":
    sys.exit(main())
