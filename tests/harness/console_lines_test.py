#!/usr/bin/env python3
"""Checks console_lines.py on the cuts seen on the carrier's console."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lines  # noqa: E402  (found through the path above)

K1 = "[    2.345678] hrtimer: interrupt took 1234 ns"
K2 = "[   12.000001] mshv_vtl_dma: pool of 8192 KiB"


def repair(lines, prefix=None):
    r = console_lines.Repair(prefix)
    out = []
    for line in lines:
        out += r.feed(line)
    return out + r.finish()


class RepairTest(unittest.TestCase):
    def test_whole_lines_pass_unchanged(self):
        lines = ["hcl: ready", K1, "vtl0-init: started", "", K2]
        self.assertEqual(repair(lines), lines)

    def test_one_kernel_line_inside_another(self):
        self.assertEqual(repair(["hcl: VTL0 starte" + K1, "d on 2 VPs", "next"]),
                         ["hcl: VTL0 started on 2 VPs", K1, "next"])

    def test_a_run_of_kernel_lines_before_the_rest(self):
        # The failure CI met: more than one line between a cut and its rest.
        self.assertEqual(repair(["vtl0-init: tpm: eventlog AAAA" + K1, K2, "BBBB", "after"]),
                         ["vtl0-init: tpm: eventlog AAAABBBB", K1, K2, "after"])

    def test_other_writers_between_a_vtl0_line_and_its_rest(self):
        # The failure seen on the carrier: VTL0's kernel cut vtl0-init's
        # line, and hcl wrote a line of its own before VTL0 wrote the rest.
        hcl = "hcl: netvsp: first frame from VTL0: 90 bytes"
        self.assertEqual(repair(["vtl0-init: tpm: eventlog AAAA" + K1, hcl, "hcl-loader: nic", "BBBB"]),
                         ["vtl0-init: tpm: eventlog AAAABBBB", K1, hcl, "hcl-loader: nic"])

    def test_the_rest_is_cut_again(self):
        self.assertEqual(repair(["abc" + K1, "def" + K2, "ghi"]),
                         ["abcdefghi", K1, K2])

    def test_a_kernel_line_cut_by_another_kernel(self):
        # VTL0's kernel line, relayed by hcl, cut by VTL2's.
        vtl0 = "[    1.000000] hv_vmbus: Vmbus version:5.3"
        self.assertEqual(repair([vtl0[:20] + K2, vtl0[20:]]), [vtl0, K2])

    def test_a_cut_at_the_end_of_the_log(self):
        self.assertEqual(repair(["abc" + K1]), ["abc", K1])
        self.assertEqual(repair(["abc" + K1, K2]), ["abc", K1, K2])

    def test_tags_keep_cases_apart(self):
        p = r"[a-z0-9-]+\| "
        self.assertEqual(repair(["boot-2| vtl0-init: AB" + K1, "boot-2| " + K2, "boot-2| CD", "boot-2| x"], p),
                         ["boot-2| vtl0-init: ABCD", "boot-2| " + K1, "boot-2| " + K2, "boot-2| x"])
        # A cut whose rest never came (the case ended): nothing from the
        # next case is glued to it.
        self.assertEqual(repair(["boot| AB" + K1, "attack| CD"], p),
                         ["boot| AB", "boot| " + K1, "attack| CD"])

    def test_brackets_that_are_no_time_stamp_stay(self):
        lines = ["vtl0-init: array [1.5] is fine", "hcl: [ 1.2] short"]
        self.assertEqual(repair(lines), lines)

    def test_the_command_line(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "console_lines.py")
        text = "x| hcl: ab" + K1 + "\nx| cd\nx| \xff raw\n"
        done = subprocess.run([sys.executable, script, "--prefix", r"x\| "], check=True,
                              input=text.encode("latin-1"), stdout=subprocess.PIPE).stdout
        self.assertEqual(done, ("x| hcl: abcd\nx| " + K1 + "\nx| \xff raw\n").encode("latin-1"))


if __name__ == "__main__":
    unittest.main()
