#!/usr/bin/env python3
"""scripts/streaming_tail_check.py's `shared` price against closed forms (ctest: scripts.streaming_tail_check)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import streaming_tail_check as check  # noqa: E402

MIB = 2**20


class SharedPrice(unittest.TestCase):
    # 64 MiB sent at 64 MiB per ms alone: 1 ms alone.
    SENT = 64 * MIB
    ALONE_MS = 1.0
    RATE = 64 * MIB * 1e3

    def test_sends_at_full_rate_beside_a_long_gemm_end_one_tail_after_it(self):
        # Everything but the tail leaves during a 4 ms GEMM: the end is the GEMM's plus the tail.
        tail = 8 * MIB
        got = check.shared_ms(self.SENT, self.ALONE_MS, self.RATE, 4.0, 0.0, tail)
        self.assertAlmostEqual(got, 4.125, places=9)

    def test_no_progress_beside_the_gemm_sends_everything_after_it(self):
        got = check.shared_ms(self.SENT, self.ALONE_MS, 0.0, 2.0, 0.5, 1 * MIB)
        self.assertAlmostEqual(got, 3.0, places=9)

    def test_a_short_gemm_at_full_rate_ends_when_the_sends_alone_would(self):
        # 0.25 ms of GEMM, no head: 16 MiB at full rate beside it, the other 48 MiB in 0.75 ms after it.
        got = check.shared_ms(self.SENT, self.ALONE_MS, self.RATE, 0.25, 0.0, 0)
        self.assertAlmostEqual(got, 1.0, places=9)

    def test_half_rate_beside_the_gemm_after_its_first_wave(self):
        # From the 0.5 ms head to the 1.5 ms GEMM end at half rate: 1 ms x 32 MiB/ms = 32 MiB sent;
        # the other 32 MiB in 0.5 ms after the GEMM.
        got = check.shared_ms(self.SENT, self.ALONE_MS, self.RATE / 2, 1.5, 0.5, 0)
        self.assertAlmostEqual(got, 2.0, places=9)


if __name__ == "__main__":
    unittest.main()
