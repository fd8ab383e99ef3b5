#!/usr/bin/env python3
"""scripts/sass_k_loop.py's loop finding and verdict on hand-written SASS listings (ctest:
scripts.sass_k_loop; the check on the built kernels is kernels.sass_k_loop)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import sass_k_loop as sass  # noqa: E402


def listing(name, body):
    """A cuobjdump -sass function: `body` one instruction a line, at addresses 0x10 apart."""
    lines = [f"\t\tFunction : {name}"]
    for i, text in enumerate(body):
        lines.append(f"        /*{i * 16:04x}*/                   {text} ;   /* 0x0 */")
    return "\n".join(lines) + "\n"


def k_loop_kernel(name, extra):
    """A kernel whose K loop (addresses 0x20..) holds a wait, `extra` instructions, one HGMMA and
    the backward branch; an outer loop around it."""
    body = ["MOV R1, c[0x0][0x28]", "S2R R0, SR_TID.X", "SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR4], R3"]
    body += extra + ["HGMMA.64x256x16.F32.BF16 R24, gdesc[UR12], R24", "@P1 BRA 0x20"]
    body += [f"@P2 BRA 0x{0x10:x}", "EXIT"]
    return listing(name, body)


class LoopFinding(unittest.TestCase):
    def test_the_smallest_loop_around_an_hgmma_is_the_k_loop(self):
        rows = sass.loop_rows(k_loop_kernel("device_kernel_a", ["UIADD3 UR12, UR12, 0x2, URZ"] * 3))
        self.assertEqual(len(rows), 1)
        # From the branch target (0x20: the TRYWAIT) to the branch: wait, 3, HGMMA, branch.
        self.assertEqual(rows[0]["instructions"], 6)
        self.assertEqual((rows[0]["r2ur"], rows[0]["warpsync"], rows[0]["hgmma"]), (0, 0, 1))
        self.assertFalse(rows[0]["fused"])

    def test_r2ur_and_warpsync_are_counted(self):
        rows = sass.loop_rows(k_loop_kernel("fused_kernel_b", ["WARPSYNC.ALL", "R2UR UR20, R14", "R2UR UR21, R15"]))
        self.assertEqual((rows[0]["instructions"], rows[0]["r2ur"], rows[0]["warpsync"]), (6, 2, 1))
        self.assertTrue(rows[0]["fused"])

    def test_a_loop_without_an_hgmma_is_not_a_k_loop(self):
        body = ["MOV R1, R2", "IADD3 R2, R2, 0x1, RZ", "@P0 BRA 0x10", "EXIT"]
        self.assertEqual(sass.loop_rows(listing("copy_kernel", body)), [])


class Verdict(unittest.TestCase):
    def rows(self, fused_extra):
        return sass.loop_rows(k_loop_kernel("device_kernel_a", ["UIADD3 UR12, UR12, 0x2, URZ"] * 3)
                              + k_loop_kernel("fused_kernel_b", fused_extra))

    def test_a_fused_loop_as_short_as_cutlass_passes(self):
        self.assertEqual(sass.verdict(self.rows(["ULEA UR12, UR4, UR5, 0x3"] * 3)), [])

    def test_a_longer_fused_loop_fails(self):
        self.assertEqual(len(sass.verdict(self.rows(["IMAD R17, R18, 0x8, R155"] * 4))), 1)

    def test_an_r2ur_fails_even_at_the_same_length(self):
        failures = sass.verdict(self.rows(["R2UR UR20, R14", "IMAD R1, R1, 0x8, R2", "IMAD R1, R1, 0x8, R2"]))
        self.assertEqual(len(failures), 1)
        self.assertIn("1 R2UR", failures[0])

    def test_a_binary_without_both_kinds_of_kernel_fails(self):
        only_fused = sass.loop_rows(k_loop_kernel("fused_kernel_b", []))
        self.assertEqual(len(sass.verdict(only_fused)), 1)


if __name__ == "__main__":
    unittest.main()
