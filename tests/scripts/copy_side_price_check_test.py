#!/usr/bin/env python3
"""scripts/copy_side_price_check.py's prices against closed forms (ctest: scripts.copy_side_price_check)."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import copy_side_price_check as check  # noqa: E402


class GemmPrices(unittest.TestCase):
    def test_short_copies_cost_their_blocks_sms_only_while_they_copy(self):
        # 12 of 132 SMs copy for 1.1 ms, then join: 3 + 1.1 x 12/132 = 3.1 ms.
        self.assertAlmostEqual(check.joining_ms(3.0, 1.1, 12), 3.1, places=12)

    def test_copies_that_outlast_the_gemm_leave_it_the_other_sms_all_along(self):
        # 3 ms on 132 SMs is 3.3 on 120; 100 ms of copies would cost more than that.
        self.assertAlmostEqual(check.joining_ms(3.0, 100.0, 12), 3.3, places=12)
        self.assertAlmostEqual(check.stopping_ms(3.0, 12), 3.3, places=12)

    def test_the_launch_ends_after_its_copies_and_the_last_rows_tiles(self):
        # 1200 tiles on 120 SMs: 10 waves of 0.33 ms; the last M tile's 112 N tiles fit one round.
        self.assertAlmostEqual(check.launch_ms(3.3, 5.0, 12, 1200, 112), 5.33, places=12)
        # 300 N tiles take three rounds of 120.
        self.assertAlmostEqual(check.launch_ms(3.3, 5.0, 12, 1200, 300), 5.99, places=12)
        # Copies done early: the GEMM's own time.
        self.assertAlmostEqual(check.launch_ms(3.3, 1.0, 12, 1200, 112), 3.3, places=12)


class RowsFromALog(unittest.TestCase):
    # Two runs appended to one log, a combine section between them (not read).
    LOG = """# Fused dispatch + expert GEMM (h13 = x w13): 8 sources
# blocks together; X: the transfer blocks stop after their tasks, without X they then join the GEMM); serial = best
model           tokens experts  rows/e      K      N     fused     rate     order    cublas   grouped   vs_cub   vs_grp
mix               4096       4    2048   4096  28672     2.640    700.0     2.700     2.600     2.700    100.0    100.0
mix               4096     56.0    45.0       blk/0     12     1.100     50.0     2.800     4.000     2.600     1.200   0.85
mix               4096     56.0    45.0      blk/0X     12     1.100     50.0     2.900     4.000     2.600     1.200   0.75
# Fused expert GEMM + combine (y = act w2): 8 sources
mix               4096       4    2048  14336   4096     1.200    800.0         -     1.200     1.200    100.0    100.0
mix               4096     56.0    94.0       blk/0     12     1.100     50.0     1.500     2.300     1.200     1.200   0.70
# Fused dispatch + expert GEMM (h13 = x w13): 8 sources
mix              16384       4    8192   4096  28672    10.560    700.0    10.600    10.400    10.500    100.0    100.0
mix              16384    224.0    45.0       blk/0     12    44.000     50.0    44.500    50.000    44.000     4.800   0.10
"""

    def test_every_dispatch_section_is_read_and_the_combine_is_not(self):
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
            f.write(self.LOG)
        try:
            rows = check.rows_of(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual([(r[1], r[2], r[7]) for r in rows], [("4096", "blk/0", True), ("4096", "blk/0X", False), ("16384", "blk/0", True)])
        # 4K: 16 M tiles x 4 experts x 112 N tiles = 7168 tiles, 60 waves on 120 SMs; copies end early.
        self.assertAlmostEqual(rows[0][5], 2.64 + 1.1 * 12 / 132, places=12)
        self.assertAlmostEqual(rows[0][6], 2.64 * 132 / 120, places=12)
        # 16K: copies longer than the GEMM on 120 SMs, so the GEMM is priced there all along; the
        # copies end the launch, then one round of the last M tile's 112 N tiles.
        gemm = 10.56 * 132 / 120
        self.assertLess(gemm, 10.56 + 44.0 * 12 / 132)
        waves = -(-64 * 4 * 112 // 120)
        self.assertAlmostEqual(rows[2][5], 44.0 + gemm / waves, places=9)

    def test_a_row_of_another_tile_band_is_priced_with_that_bands_gemm(self):
        # The run timed bands 0 and 16: the GEMM table holds band 0's GEMM part, the band table
        # (printed after the run's combine section) both; `blk/16` is priced with band 16's, `blk/0`
        # with band 0's, and the first band timed again (`0*`) is not a band of its own.
        run = """# Fused dispatch + expert GEMM (h13 = x w13): 8 sources
# blocks together; X: the transfer blocks stop after their tasks, without X they then join the GEMM); serial = best
mix              16384       4    8192   4096  28672    10.560    700.0    10.600    10.400    10.500    100.0    100.0
mix              16384    224.0    45.0       blk/0      4    44.000     50.0    44.500    50.000    44.000     4.800   0.10
mix              16384    224.0    45.0      blk/16      4     4.000     50.0    10.300    14.000    10.000     4.800   0.90
# Fused expert GEMM + combine (y = act w2): 8 sources
mix              16384       4    8192  14336   4096     5.000    700.0         -     5.000     5.000    100.0    100.0

# GEMM part by tile band (all rows here, all SMs): within an expert, bands of `band` M tiles
side      model           tokens   band     fused     rate   vs_cub   vs_grp
dispatch  mix              16384      0    10.560    700.0    100.0    100.0
dispatch  mix              16384     16     9.900    750.0    105.0    105.0
dispatch  mix              16384     0*    11.000    690.0     99.0     99.0
combine   mix              16384      0     5.000    700.0    100.0    100.0
"""
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
            f.write(self.LOG + run)
        try:
            rows = check.rows_of(f.name)
        finally:
            os.unlink(f.name)
        late = [r for r in rows if r[1] == "16384"]
        self.assertEqual([r[2] for r in late], ["blk/0", "blk/0", "blk/16"])
        tiles = 64 * 4 * 112
        # The first run's 16K row (12 blocks; no band table in its run) and this run's `blk/0`: the
        # GEMM table's 10.56 ms.
        self.assertAlmostEqual(late[0][6], check.launch_ms(check.stopping_ms(10.56, 12), 44.0, 12, tiles, 112), places=12)
        self.assertAlmostEqual(late[1][6], check.launch_ms(check.stopping_ms(10.56, 4), 44.0, 4, tiles, 112), places=12)
        # `blk/16`: band 16's 9.9 ms; its copies (4 ms) end well inside it, so the GEMM decides.
        self.assertAlmostEqual(late[2][5], check.joining_ms(9.9, 4.0, 4), places=12)
        self.assertAlmostEqual(late[2][5], check.launch_ms(check.joining_ms(9.9, 4.0, 4), 4.0, 4, tiles, 112), places=12)
        self.assertAlmostEqual(late[2][6], check.stopping_ms(9.9, 4), places=12)

    def test_a_log_from_before_joining_prices_every_row_as_stopping(self):
        def before_joining(line):
            fields = line.split()
            return "X:" not in line and not (len(fields) > 4 and fields[4].endswith("X"))
        old = "\n".join(filter(before_joining, self.LOG.splitlines()))
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
            f.write(old + "\n")
        try:
            rows = check.rows_of(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual([(r[2], r[7]) for r in rows], [("blk/0", False), ("blk/0", False)])


if __name__ == "__main__":
    unittest.main()
