#!/usr/bin/env python3
"""benchmarks/fused-variants/sustained_clocks.py's sample window and argument checks, without a GPU
(ctest: scripts.sustained_clocks)."""
import io
import math
import os
import sys
import unittest
from contextlib import redirect_stderr

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks", "fused-variants"))
import sustained_clocks as sc  # noqa: E402


class SampleWindow(unittest.TestCase):
    SAMPLES = [(0.9, 1980.0, 120.0), (1.0, 1500.0, 690.0), (1.5, 1400.0, 700.0), (2.0, 1300.0, 698.0), (2.1, 1980.0, 90.0)]

    def test_medians_of_the_samples_inside_the_run_only(self):
        # 1.0, 1.5 and 2.0 are in [1.0, 2.0] (ends included); the idle samples around it are not.
        self.assertEqual(sc.medians_between(self.SAMPLES, 1.0, 2.0), (1400.0, 698.0))

    def test_clock_and_power_take_their_medians_separately(self):
        # [1.0, 1.5]: clocks 1500, 1400 -> 1450; powers 690, 700 -> 695.
        self.assertEqual(sc.medians_between(self.SAMPLES, 1.0, 1.5), (1450.0, 695.0))

    def test_a_run_between_two_samples_has_no_figure(self):
        clock, power = sc.medians_between(self.SAMPLES, 1.1, 1.4)
        self.assertTrue(math.isnan(clock) and math.isnan(power))


class VsTorch(unittest.TestCase):
    def test_torch_over_each_kernel_in_percent_without_torch_itself(self):
        # stop 51's 16K pass 1: torch 6.0433 ms, dispatch 5.9696 ms -> 101.23%; a kernel twice torch's time -> 50%.
        ratios = sc.vs_torch({"torch": 6.0433, "dispatch": 5.9696, "slow": 12.0866})
        self.assertEqual(sorted(ratios), ["dispatch", "slow"])
        self.assertAlmostEqual(ratios["dispatch"], 101.2346, places=3)
        self.assertAlmostEqual(ratios["slow"], 50.0)


class Arguments(unittest.TestCase):
    def exit_code(self, argv):
        stderr = io.StringIO()
        with redirect_stderr(stderr), self.assertRaises(SystemExit) as raised:
            sc.main(argv)
        self.assertIn("sustained_clocks:", stderr.getvalue())
        return raised.exception.code

    def test_bad_arguments_exit_2_before_any_gpu_work(self):
        shape = "deepseek-v3:128:256:2048:7168"
        for argv in (["lib.so", "8"], ["lib.so", "0", shape], ["lib.so", "-1", shape], ["lib.so", "nan", shape],
                     ["lib.so", "inf", shape], ["lib.so", "eight", shape], ["lib.so", "8", "deepseek-v3:128:256"]):
            with self.subTest(argv=argv):
                self.assertEqual(self.exit_code(argv), 2)


if __name__ == "__main__":
    unittest.main()
