#!/usr/bin/env python3
"""scripts/streaming_tail_check.py's `shared` price against closed forms (ctest: scripts.streaming_tail_check)."""
import os
import sys
import tempfile
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


class SharedRateFromALog(unittest.TestCase):
    """rows_of picks the rate beside the GEMM: BESIDE x blocks x the best per-block rate, capped by the rate alone."""

    LOG = """# Fused expert GEMM + combine (y = act w2): 8 sources, source 0 this GPU
model           tokens experts  rows/e      K      N     fused     rate         -    cublas   grouped   vs_cub   vs_grp
mix               4096       4    2048  14336   4096     0.600   1600.0         -     0.600     0.600    100.0    100.0
mix               4096     56.0    94.0       wrp/0      2     1.000     64.0     1.500     2.200     1.200     1.000   0.70
mix               4096     56.0    94.0       wrp/0      4     1.000     64.0     1.600     2.200     1.200     1.000   0.60
"""

    def priced(self, beside):
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log:
            log.write(self.LOG)
        try:
            return {row[4]: row[6]["shared"] for row in check.rows_of(log.name, beside)}
        finally:
            os.unlink(log.name)

    def expected(self, blocks, beside_share):
        sent = 56 * MIB * 8 / 7  # the own rows are sent too: 64 MiB
        rate = sent / 1e-3       # both block counts move it in 1 ms: that is the link
        at_once = check.SMS - blocks
        tiles = 16 * 4 * 16      # 2048 / 128 M tiles x 4 experts x 4096 / 256 N tiles
        waves = -(-tiles // at_once)
        last = tiles - (waves - 1) * at_once
        gemm = 0.6 * check.SMS / at_once  # shorter than the sends: the cap shows
        return check.shared_ms(sent, 1.0, beside_share * rate, gemm, gemm / waves, last * 128 * 256 * 2)

    def test_two_blocks_at_the_link_keep_only_their_share_beside_the_gemm(self):
        self.assertAlmostEqual(self.priced(0.8)[2], self.expected(2, 0.8), places=9)

    def test_four_blocks_with_headroom_keep_their_rate_alone(self):
        # 0.8 x 4 blocks x half the link each is 1.6 links: their rate alone (the link) caps it.
        self.assertAlmostEqual(self.priced(0.8)[4], self.expected(4, 1.0), places=9)

    def test_every_run_of_a_log_is_read_not_only_the_first(self):
        # Two bench runs appended to one log, each a dispatch section then a combine section: the
        # second run's combine rows (another token count) are priced too, and no dispatch row is.
        dispatch = """# Fused dispatch + expert GEMM (h13 = x w13): 8 sources, source 0 this GPU
mix               4096     56.0    47.0       blk/0      2     2.000     30.0     3.000     4.000     2.500     1.200   0.40
"""
        second = self.LOG.replace("4096", "16384")
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log:
            log.write(dispatch + self.LOG + dispatch.replace("4096", "16384") + second)
        try:
            rows = check.rows_of(log.name, 0.8)
        finally:
            os.unlink(log.name)
        self.assertEqual(sorted((row[2], row[4]) for row in rows), [("16384", 2), ("16384", 4), ("4096", 2), ("4096", 4)])

    def test_the_same_shape_in_two_runs_is_priced_against_each_runs_gemm(self):
        # The second run's GEMM took twice as long: its rows' prices are its own, not the first run's.
        slower = self.LOG.replace("     0.600   1600.0", "     1.200    800.0")
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log:
            log.write(self.LOG + slower)
        try:
            rows = check.rows_of(log.name, 0.8)
        finally:
            os.unlink(log.name)
        first = {row[4]: row[6]["wave"] for row in rows[:2]}
        second = {row[4]: row[6]["wave"] for row in rows[2:]}
        self.assertEqual(first, {b: p["wave"] for b, p in self.priced_all(0.8).items()})
        for blocks in (2, 4):
            self.assertGreater(second[blocks], first[blocks])

    def test_a_row_of_another_tile_band_is_priced_with_that_bands_gemm(self):
        # `wrp/16` beside `wrp/0`, the run's band table after its combine section: band 16's GEMM
        # part (1.2 ms here) prices the `wrp/16` rows, the GEMM table's (band 0's, 0.6 ms) the others.
        banded = self.LOG + """mix               4096     56.0    94.0      wrp/16      2     1.000     64.0     1.400     2.200     1.200     1.000   0.80

# GEMM part by tile band (all rows here, all SMs): within an expert, bands of `band` M tiles
side      model           tokens   band     fused     rate   vs_cub   vs_grp
combine   mix               4096      0     0.600   1600.0    100.0    100.0
combine   mix               4096     16     1.200    800.0     50.0     50.0
combine   mix               4096     0*     0.700   1400.0     90.0     90.0
"""
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log:
            log.write(banded)
        try:
            rows = {(row[3], row[4]): row[6]["wave"] for row in check.rows_of(log.name, 0.8)}
        finally:
            os.unlink(log.name)
        at_once = check.SMS - 2
        tiles = 16 * 4 * 16
        last = tiles - (-(-tiles // at_once) - 1) * at_once
        tail_ms = last * 128 * 256 * 2 / (64 * MIB * 1e3) * 1e3  # the sends' rate alone: 64 MiB per ms
        self.assertGreater(1.2 * check.SMS / at_once + tail_ms, 1.0)  # the GEMM, not the sends alone, decides it
        self.assertAlmostEqual(rows[("wrp/16", 2)], 1.2 * check.SMS / at_once + tail_ms, places=9)
        self.assertAlmostEqual(rows[("wrp/0", 2)], max(1.0, 0.6 * check.SMS / at_once + tail_ms), places=9)

    def priced_all(self, beside):
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log:
            log.write(self.LOG)
        try:
            return {row[4]: row[6] for row in check.rows_of(log.name, beside)}
        finally:
            os.unlink(log.name)


if __name__ == "__main__":
    unittest.main()
