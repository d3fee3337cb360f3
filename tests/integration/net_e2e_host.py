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

The loader's stdout carries VTL2's console and VTL0's, so a kernel line
("[    1.234567] ...") or an hcl line ("hcl: ...") can land inside another
line; the rest of that line follows it. Such a line is moved after the line
it interrupted, so both read whole (as test-vtl0-boot does with perl).
"""
import argparse
import hashlib
import random
import re
import socket
import subprocess
import sys
import threading
import time

GUEST_TO = 5001
GUEST_FROM = 5002
CONNECT_WINDOW = 60.0
IO_TIMEOUT = 120.0
PROGRESS = re.compile(r"vtl0-init: net-e2e|^hcl-loader: guest|^carrier-run: |Traceback")
INTRUDER = re.compile(r"^(.+?)((?:\[ *[0-9]+\.[0-9]+\] |hcl: ).*)$")


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
    def __init__(self, args):
        self.args = args
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

    def result(self, line):
        self.emit("net-e2e-host: " + line, progress=True)

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

    def to_guest(self):
        data = self.payload()
        want = hashlib.sha256(data).hexdigest()
        deadline = time.monotonic() + CONNECT_WINDOW
        attempt = 0
        while True:
            attempt += 1
            sent = 0
            try:
                s = self.connect(self.args.to_guest)
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
                self.result(f"to-guest failed: {e} after {sent} bytes, attempt {attempt}")
                return
        if not self.to_guest_event.wait(IO_TIMEOUT):
            self.result(f"to-guest failed: sent {sent} bytes, no \"received port={GUEST_TO}\" from the guest in {IO_TIMEOUT:.0f} s")
            s.close()
            return
        seconds = self.to_guest_end - start
        s.close()
        self.result(f"to-guest bytes={sent} sha256={want} seconds={seconds:.2f} "
                    f"mb_s={sent / seconds / 1e6:.2f} attempts={attempt}")

    def from_guest(self):
        deadline = time.monotonic() + CONNECT_WINDOW
        attempt = 0
        while True:
            attempt += 1
            h = hashlib.sha256()
            got = 0
            try:
                # No shutdown(SHUT_WR) here: busybox nc exits at its peer's
                # EOF, its own data unsent.
                s = self.connect(self.args.from_guest)
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
                self.result(f"from-guest failed: {e} after {got} bytes, attempt {attempt}")
                return
            if got == 0 and time.monotonic() < deadline:
                # EOF at once: slirp's connection to the guest failed.
                time.sleep(0.5)
                continue
            break
        seconds = max(end - start, 1e-6)
        self.result(f"from-guest bytes={got} sha256={h.hexdigest()} seconds={seconds:.2f} "
                    f"mb_s={got / seconds / 1e6:.2f} attempts={attempt}")

    def start(self, target):
        t = threading.Thread(target=target, daemon=True)
        t.start()
        self.threads.append(t)

    def line(self, line):
        """One whole console line."""
        now = time.monotonic()
        self.emit(line, progress=PROGRESS.search(line) is not None)
        if "vtl0-init: net-e2e: " not in line:
            return
        marker = line[line.index("vtl0-init: net-e2e: ") + len("vtl0-init: net-e2e: "):]
        if marker == f"listening {GUEST_TO}":
            self.to_guest_event.clear()
            self.start(self.to_guest)
        elif marker.startswith(f"received port={GUEST_TO} rc="):
            self.to_guest_end = now
            self.to_guest_event.set()
        elif marker.startswith(f"listening {GUEST_FROM} "):
            self.start(self.from_guest)

    def run(self):
        proc = subprocess.Popen(self.args.command, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        pending = None  # the start of a line an intruder cut
        for raw in proc.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if pending is not None:
                text, held, pending = pending[0] + text, pending[1], None
            else:
                held = None
            m = INTRUDER.match(text)
            if m and held is None:
                pending = (m.group(1), m.group(2))
                continue
            self.line(text)
            if held is not None:
                self.line(held)
        if pending is not None:
            self.line(pending[0])
            self.line(pending[1])
        status = proc.wait()
        for t in self.threads:
            t.join(5)
        self.log.close()
        return status


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "ports":
        print(*free_ports(int(sys.argv[2])))
        return 0
    p = argparse.ArgumentParser(usage=__doc__)
    p.add_argument("mode", choices=["run"])
    p.add_argument("--log", required=True)
    p.add_argument("--to-guest", type=int, required=True)
    p.add_argument("--from-guest", type=int, required=True)
    p.add_argument("--mib", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        p.error("no loader command after --")
    cut = argv.index("--")
    args = p.parse_args(argv[:cut])
    args.command = argv[cut + 1:]
    return Run(args).run()


if __name__ == "__main__":
    sys.exit(main())
