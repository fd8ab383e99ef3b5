#!/usr/bin/env python3
"""scripts/grouped_mm_vs_comet.py's statistics and argument checks, without a GPU (ctest:
scripts.grouped_mm_vs_comet)."""
import io
import os
import sys
import unittest
from contextlib import redirect_stderr

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import grouped_mm_vs_comet as vs  # noqa: E402


class Statistics(unittest.TestCase):
    def test_quantiles_interpolate_between_order_statistics(self):
        # [1, 2, 3, 4]: positions 0.75, 1.5, 2.25 of the sorted sample.
        self.assertEqual(vs.quantile([4, 1, 3, 2], 0.25), 1.75)
        self.assertEqual(vs.quantile([4, 1, 3, 2], 0.5), 2.5)
        self.assertEqual(vs.quantile([4, 1, 3, 2], 0.75), 3.25)
        self.assertEqual(vs.quantile([7.0], 0.25), 7.0)
        self.assertEqual(vs.quantile([], 0.5), 0.0)

    def test_ratios_pair_by_round_not_by_rank(self):
        # torch 2, 4, 6, 8 ms; the kernel 1, 8, 3, 4: ratios 2, 0.5, 2, 2 (the medians' ratio would be 5/3.5).
        q1, median, q3 = vs.paired_quartiles([2, 4, 6, 8], [1, 8, 3, 4])
        self.assertEqual((q1, median, q3), (1.625, 2.0, 2.0))

    def test_ratios_refuse_unpaired_or_empty_times(self):
        with self.assertRaises(ValueError):
            vs.paired_quartiles([1, 2], [1])
        with self.assertRaises(ValueError):
            vs.paired_quartiles([1, 2], [1, 0])

    def test_every_round_times_every_variant_once_and_the_orders_repeat(self):
        orders = vs.round_orders(5, 12)
        self.assertEqual(orders[0], [0, 1, 2, 3, 4])
        for order in orders:
            self.assertEqual(sorted(order), [0, 1, 2, 3, 4])
        self.assertTrue(any(order != orders[0] for order in orders[1:]))
        self.assertEqual(orders, vs.round_orders(5, 12))


class Arguments(unittest.TestCase):
    def exit_code(self, argv):
        with redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit) as raised:
            vs.parse_args(argv)
        return raised.exception.code, err.getvalue()

    def test_bad_arguments_exit_2_and_say_which(self):
        code, message = self.exit_code(["deepseek-v3:128:256:7168"])
        self.assertEqual(code, 2)
        self.assertIn("deepseek-v3:128:256:7168", message)
        code, message = self.exit_code(["--rounds", "3", "m:1:8:8:8"])
        self.assertEqual(code, 2)
        self.assertIn("--rounds 3", message)
        code, message = self.exit_code(["--band-tiles", "-2", "m:1:8:8:8"])
        self.assertEqual(code, 2)
        self.assertIn("--band-tiles -2", message)
        code, message = self.exit_code(["m:1:0:8:8"])
        self.assertEqual(code, 2)
        self.assertIn("positive", message)

    def test_several_libraries_need_distinct_labels(self):
        code, message = self.exit_code(["--lib", "a.so", "--lib", "b.so", "m:1:8:8:8"])
        self.assertEqual(code, 2)
        self.assertIn("distinct labels", message)
        code, _ = self.exit_code(["--lib", "x=a.so", "--lib", "x=b.so", "m:1:8:8:8"])
        self.assertEqual(code, 2)
        code, message = self.exit_code(["--lib", "x=", "m:1:8:8:8"])
        self.assertEqual(code, 2)
        self.assertIn("--lib x=", message)
        args = vs.parse_args(["--lib", "old=a.so", "--lib", "new=b.so", "m:1:8:8:8"])
        self.assertEqual([(label, str(path)) for label, path in args.libs], [("old", "a.so"), ("new", "b.so")])
        self.assertEqual(vs.kernel_name("combine", "new"), "combine@new")
        self.assertEqual(vs.kernel_name("combine", ""), "combine")

    def test_kinds_are_checked(self):
        code, message = self.exit_code(["--kinds", "grouped,gemm", "m:1:8:8:8"])
        self.assertEqual(code, 2)
        self.assertIn("--kinds gemm", message)
        self.assertEqual(vs.parse_args(["--kinds", "combine", "m:1:8:8:8"]).kinds, ["combine"])

    def test_good_arguments_parse_into_shapes(self):
        args = vs.parse_args(["--rounds", "4", "deepseek-v3:128:256:2048:7168"])
        self.assertEqual(args.shapes, [("deepseek-v3", 128, 256, 2048, 7168)])
        self.assertEqual(args.rounds, 4)


class FakeTensor:
    """What shape_calls does with a tensor: scale it, take its address, transpose it."""
    def __mul__(self, _):
        return self

    def data_ptr(self):
        return 0x1000

    def transpose(self, *_):
        return self


class FakeTorch:
    bfloat16 = int32 = None

    def __init__(self):
        self.grouped_mm_calls = 0

    def randn(self, *_, **__):
        return FakeTensor()

    arange = empty = randn

    def _grouped_mm(self, *_, **__):
        self.grouped_mm_calls += 1


class FakeLibrary:
    """comet's C API: handles 1, 2, ...; creation fails from the `fail_at`-th call on."""
    def __init__(self, fail_at=None):
        self.created, self.destroyed, self.fail_at = [], [], fail_at

    def comet_gemm_create(self, *_):
        if self.fail_at is not None and len(self.created) + 1 >= self.fail_at:
            return None
        self.created.append(len(self.created) + 1)
        return self.created[-1]

    def comet_gemm_last_error(self):
        return b"no such kernel here"

    def comet_gemm_run(self, *_):
        return 0

    def comet_gemm_destroy(self, handle):
        self.destroyed.append(handle)


class ShapeCalls(unittest.TestCase):
    def test_torch_and_every_kind_are_called_and_every_kernel_is_destroyed(self):
        torch, lib = FakeTorch(), FakeLibrary()
        with vs.shape_calls(torch, lib, 4, 8, 16, 32) as calls:
            self.assertEqual(list(calls), ["torch"] + list(vs.KINDS))
            calls["torch"]()
            self.assertEqual(torch.grouped_mm_calls, 1)
        self.assertEqual(sorted(lib.destroyed), lib.created)
        self.assertEqual(len(lib.created), len(vs.KINDS))

    def test_a_kernel_that_cannot_be_made_raises_and_leaves_none_behind(self):
        lib = FakeLibrary(fail_at=2)
        with self.assertRaisesRegex(RuntimeError, "no such kernel here"):
            with vs.shape_calls(FakeTorch(), lib, 4, 8, 16, 32):
                pass
        self.assertEqual(lib.created, [1])
        self.assertEqual(lib.destroyed, [1])


if __name__ == "__main__":
    unittest.main()
