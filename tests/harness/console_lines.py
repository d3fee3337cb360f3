#!/usr/bin/env python3
"""Repairs console lines a kernel line cut in two.

hcl-loader's stdout is VTL2's serial console. Linux writes its own messages
("[    1.234567] ...") to a serial console synchronously, between the bytes
of whatever user space is writing through the tty, so a kernel line can land
inside a line of hcl's; the rest of the cut line follows the kernel line,
possibly after more kernel lines. VTL0's console reaches it through hcl,
which writes whole lines only; but VTL0's kernel cuts VTL0's lines the same
way, and hcl (or the loader) may write lines of its own before VTL0 writes
the rest: "vtl0-init: ...AB[   22.2] IPv6: ...", "hcl: netvsp: ...", "CD".

This moves each intruder (a kernel line, or a whole "hcl: " or
"hcl-loader: " line while a cut is open) after the line it cut and rejoins
that line:
  "hcl: VTL0 starte[    2.3] hrtimer: ...", "d on 2 VPs"
becomes
  "hcl: VTL0 started on 2 VPs", "[    2.3] hrtimer: ..."

With --prefix REGEX, every line may start with a tag (test-vtl0-boot's
"boot-2| "); a cut line is only rejoined with a rest of the same tag.

  console_lines.py [--prefix REGEX] < LOG > REPAIRED
As a module: Repair(prefix).feed(line) returns the lines ready so far;
finish() returns what is left at the end.
"""
import argparse
import re
import sys

# A printk time stamp as Linux prints it (CONFIG_PRINTK_TIME): seconds and
# microseconds in brackets, the seconds right-aligned in five columns.
KERNEL_STAMP = re.compile(r"\[ *[0-9]+\.[0-9]{6}\] ")
# Lines from the other writers, which never cut a line but may come
# between a VTL0 line's head and its rest.
OTHER_WRITER = re.compile(r"hcl(-loader)?: ")


class Repair:
    def __init__(self, prefix=None):
        self.prefix = re.compile(prefix) if prefix else None
        self.cut = None  # (tag, head): a line an intruder cut, waiting for its rest
        self.held = []   # the intruders, released once the cut line is whole

    def split(self, line):
        if self.prefix:
            m = self.prefix.match(line)
            if m:
                return line[:m.end()], line[m.end():]
        return "", line

    def feed(self, line):
        """One line without its line end; returns the lines now complete."""
        tag, text = self.split(line)
        out = []
        if self.cut is not None:
            if tag == self.cut[0] and (KERNEL_STAMP.match(text) or OTHER_WRITER.match(text)):
                self.held.append(line)  # one more intruder before the rest
                return out
            if tag == self.cut[0]:
                text = self.cut[1] + text
                self.cut = None
            else:
                out += self.finish()  # the rest never came
        m = KERNEL_STAMP.search(text, 1)
        if m:
            self.cut = (tag, text[:m.start()])
            self.held.append(tag + text[m.start():])
            return out
        out.append(tag + text)
        out += self.held
        self.held = []
        return out

    def finish(self):
        out = []
        if self.cut is not None:
            out.append(self.cut[0] + self.cut[1])
            self.cut = None
        out += self.held
        self.held = []
        return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prefix", help="a regular expression for each line's tag (e.g. '[a-z0-9-]+\\| ')")
    args = p.parse_args()
    repair = Repair(args.prefix)
    stdin = open(sys.stdin.fileno(), "r", encoding="utf-8", errors="surrogateescape", newline="\n")
    stdout = open(sys.stdout.fileno(), "w", encoding="utf-8", errors="surrogateescape", newline="\n")
    for raw in stdin:
        for line in repair.feed(raw[:-1] if raw.endswith("\n") else raw):
            stdout.write(line + "\n")
    for line in repair.finish():
        stdout.write(line + "\n")
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
