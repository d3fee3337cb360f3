#!/usr/bin/env python3
"""The host side of tests/integration/test-network: a user's program talking
TCP to the VTL0 guest through hcl-loader's hostfwd ports.

  net_e2e_host.py ports N
      prints N free TCP ports on 127.0.0.1 (bound to port 0, closed), one line

  net_e2e_host.py run --log FILE --to-guest HOSTPORT --from-guest HOSTPORT
                      --mib N --seed S -- LOADER ARGS...
      runs the loader, its stdout and stderr (the console) into FILE, the
      lines it cut apart joined again (below), and acts on the guest's
      markers (tests/guest/vtl0-init net_e2e):
        "vtl0-init: net-e2e: listening 5001": connects to 127.0.0.1:HOSTPORT
            (--to-guest) and sends N MiB of random.Random(S) bytes, then
            shuts its half; the transfer's time runs from the connect to the
            guest's "received port=5001 rc=" line;
        "vtl0-init: net-e2e: listening 5002 ...": connects to --from-guest
            and reads until EOF, timed from the connect to the EOF.
      A connect refused or reset before any byte went through (slirp, here
      and in the carrier, accepts before the guest does) is retried for
      60 s. Results are lines of their own in FILE (and on stdout, with the
      guest's "vtl0-init: net-e2e" lines as progress):
        net-e2e-host: to-guest bytes=N sha256=HEX seconds=T mb_s=R
        net-e2e-host: from-guest bytes=N sha256=HEX seconds=T mb_s=R
        net-e2e-host: to-guest|from-guest failed: REASON
      Exit status: the loader's.

  net_e2e_host.py bench --log FILE --ports PATH=TO,FROM,ECHO [--ports ...]
                        --mib N --seed S --round-trips K -- LOADER ARGS...
      the host side of tests/bench/network/network-bench, the same way: the
      guest's markers (tests/guest/vtl0-init net_bench) are
      "vtl0-init: net-bench: PATH: listening 5001|5002 ...|5003 echo", and
      PATH's host ports TO, FROM and ECHO forward to the guest's 5001, 5002
      and 5003 on that path's NIC. 5001 and 5002 as above; on 5003 the host
      connects (TCP_NODELAY), sends one byte and waits for its echo, 10
      times untimed and then K times timed, and closes. Results:
        net-bench-host: PATH to-guest|from-guest bytes=N sha256=HEX seconds=T mb_s=R
        net-bench-host: PATH rtt n=K mean_us=M median_us=D min_us=L max_us=H
        net-bench-host: PATH to-guest|from-guest|rtt failed: REASON

The loader's stdout carries VTL2's console and VTL0's, so a kernel line
("[    1.234567] ...") can land inside another line; the lines are read
through tests/harness/console_lines.py, which rejoins the cut line.
"""
import argparse
import hashlib
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
import console_lines  # noqa: E402  (found through the path above)

GUEST_TO = 5001
GUEST_FROM = 5002
GUEST_ECHO = 5003
RTT_WARMUP = 10
CONNECT_WINDOW = 60.0
IO_TIMEOUT = 120.0
PROGRESS = re.compile(r"vtl0-init: net-(e2e|bench)|^hcl-loader: (guest|nic)|^carrier-run: |Traceback")
# A guest marker: net-e2e's, or net-bench's with its path.
MARKER = re.compile(r"vtl0-init: (net-e2e|net-bench: ([a-z]+)): (.*)$")


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Run:
    """One loader run and the host's side of the guest's transfers. The
    guest's marker TAG (net-e2e, or net-bench: PATH) picks the host ports
    (self.ports[TAG]: guest port -> host port) and the result lines'
    prefix (self.prefix[TAG])."""

    def __init__(self, args):
        self.args = args
        if args.mode == "run":
            self.ports = {"net-e2e": {GUEST_TO: args.to_guest, GUEST_FROM: args.from_guest}}
            self.prefix = {"net-e2e": "net-e2e-host: "}
        else:
            self.ports = {f"net-bench: {path}": dict(zip((GUEST_TO, GUEST_FROM, GUEST_ECHO), ports))
                          for path, ports in args.ports}
            self.prefix = {f"net-bench: {path}": f"net-bench-host: {path} " for path, _ in args.ports}
        self.log = open(args.log, "w", encoding="utf-8", errors="replace")
        self.lock = threading.Lock()
        self.data = None
        self.to_guest_end = None
        self.to_guest_event = threading.Event()
        self.threads = []

    def emit(self, line, progress=False):
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()
            if progress:
                print(line, flush=True)

    def result(self, tag, line):
        self.emit(self.prefix[tag] + line, progress=True)

    def payload(self):
        if self.data is None:
            self.data = random.Random(self.args.seed).randbytes(self.args.mib << 20)
        return self.data

    def connect(self, port):
        """A connected socket, or raises after CONNECT_WINDOW."""
        deadline = time.monotonic() + CONNECT_WINDOW
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
                return s
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def to_guest(self, tag):
        data = self.payload()
        want = hashlib.sha256(data).hexdigest()
        deadline = time.monotonic() + CONNECT_WINDOW
        attempt = 0
        while True:
            attempt += 1
            sent = 0
            try:
                s = self.connect(self.ports[tag][GUEST_TO])
                start = time.monotonic()
                view = memoryview(data)
                while sent < len(data):
                    sent += s.send(view[sent:sent + 262144])
                s.shutdown(socket.SHUT_WR)
                break
            except OSError as e:
                # Nothing got through (a reset before the guest accepted):
                # try again; after that the guest's nc has gone.
                if sent == 0 and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                self.result(tag, f"to-guest failed: {e} after {sent} bytes, attempt {attempt}")
                return
        if not self.to_guest_event.wait(IO_TIMEOUT):
            self.result(tag, f"to-guest failed: sent {sent} bytes, no \"received port={GUEST_TO}\" from the guest in {IO_TIMEOUT:.0f} s")
            s.close()
            return
        seconds = self.to_guest_end - start
        s.close()
        self.result(tag, f"to-guest bytes={sent} sha256={want} seconds={seconds:.2f} "
                    f"mb_s={sent / seconds / 1e6:.2f} attempts={attempt}")

    def from_guest(self, tag):
        deadline = time.monotonic() + CONNECT_WINDOW
        attempt = 0
        while True:
            attempt += 1
            h = hashlib.sha256()
            got = 0
            try:
                # No shutdown(SHUT_WR) here: busybox nc exits at its peer's
                # EOF, its own data unsent.
                s = self.connect(self.ports[tag][GUEST_FROM])
                start = time.monotonic()
                while True:
                    chunk = s.recv(262144)
                    if not chunk:
                        break
                    h.update(chunk)
                    got += len(chunk)
                end = time.monotonic()
                s.close()
            except OSError as e:
                if got == 0 and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                self.result(tag, f"from-guest failed: {e} after {got} bytes, attempt {attempt}")
                return
            if got == 0 and time.monotonic() < deadline:
                # EOF at once: slirp's connection to the guest failed.
                time.sleep(0.5)
                continue
            break
        seconds = max(end - start, 1e-6)
        self.result(tag, f"from-guest bytes={got} sha256={h.hexdigest()} seconds={seconds:.2f} "
                    f"mb_s={got / seconds / 1e6:.2f} attempts={attempt}")

    def round_trips(self, tag):
        """One byte out, its echo back, over one connection: RTT_WARMUP
        untimed, then --round-trips timed."""
        deadline = time.monotonic() + CONNECT_WINDOW
        attempt = 0
        s = None
        while True:
            attempt += 1
            try:
                s = self.connect(self.ports[tag][GUEST_ECHO])
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # The first echo proves the guest accepted (slirp accepts
                # before the guest does, then resets or closes).
                s.sendall(b"\x00")
                if s.recv(1) != b"\x00":
                    raise ConnectionResetError("no echo")
                break
            except OSError as e:
                if s is not None:
                    s.close()
                    s = None
                if time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                self.result(tag, f"rtt failed: {e}, attempt {attempt}")
                return
        times = []
        try:
            for i in range(RTT_WARMUP + self.args.round_trips):
                byte = bytes([i & 0xFF])
                start = time.perf_counter_ns()
                s.sendall(byte)
                got = s.recv(1)
                end = time.perf_counter_ns()
                if got != byte:
                    raise ConnectionError(f"round trip {i}: got {got!r}")
                if i >= RTT_WARMUP:
                    times.append((end - start) / 1000)
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
            s.close()
        except OSError as e:
            self.result(tag, f"rtt failed: {e} after {len(times)} timed round trips")
            return
        self.result(tag, f"rtt n={len(times)} mean_us={statistics.fmean(times):.0f} "
                         f"median_us={statistics.median(times):.0f} min_us={min(times):.0f} "
                         f"max_us={max(times):.0f} attempts={attempt}")

    def start(self, target, tag):
        t = threading.Thread(target=target, args=(tag,), daemon=True)
        t.start()
        self.threads.append(t)

    def line(self, line):
        """One whole console line."""
        now = time.monotonic()
        self.emit(line, progress=PROGRESS.search(line) is not None)
        m = MARKER.search(line)
        if m is None or m.group(1) not in self.ports:
            return
        tag, marker = m.group(1), m.group(3)
        if marker == f"listening {GUEST_TO}":
            self.to_guest_event.clear()
            self.start(self.to_guest, tag)
        elif marker.startswith(f"received port={GUEST_TO} rc="):
            self.to_guest_end = now
            self.to_guest_event.set()
        elif marker.startswith(f"listening {GUEST_FROM} "):
            self.start(self.from_guest, tag)
        elif marker.startswith(f"listening {GUEST_ECHO} "):
            self.start(self.round_trips, tag)

    def run(self):
        proc = subprocess.Popen(self.args.command, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        repair = console_lines.Repair()
        for raw in proc.stdout:
            for text in repair.feed(raw.decode("utf-8", "replace").rstrip("\r\n")):
                self.line(text)
        for text in repair.finish():
            self.line(text)
        status = proc.wait()
        for t in self.threads:
            t.join(5)
        self.log.close()
        return status


def path_ports(text):
    """PATH=TO,FROM,ECHO (bench --ports)."""
    path, _, ports = text.partition("=")
    numbers = ports.split(",")
    if not re.fullmatch(r"[a-z]+", path) or len(numbers) != 3 or not all(n.isdigit() for n in numbers):
        raise argparse.ArgumentTypeError(f"{text!r} is not PATH=TO,FROM,ECHO")
    return path, [int(n) for n in numbers]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "ports":
        print(*free_ports(int(sys.argv[2])))
        return 0
    p = argparse.ArgumentParser(usage=__doc__)
    p.add_argument("mode", choices=["run", "bench"])
    p.add_argument("--log", required=True)
    p.add_argument("--to-guest", type=int)
    p.add_argument("--from-guest", type=int)
    p.add_argument("--ports", type=path_ports, action="append", default=[])
    p.add_argument("--round-trips", type=int, default=200)
    p.add_argument("--mib", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        p.error("no loader command after --")
    cut = argv.index("--")
    args = p.parse_args(argv[:cut])
    args.command = argv[cut + 1:]
    if args.mode == "run" and (args.to_guest is None or args.from_guest is None):
        p.error("run needs --to-guest and --from-guest")
    if args.mode == "bench" and not args.ports:
        p.error("bench needs --ports PATH=TO,FROM,ECHO")
    return Run(args).run()


if __name__ == "__main__":
    sys.exit(main())
