import unittest

import calc


class TestCalc(unittest.TestCase):
    def test_add(self):
        self.assertEqual(calc.add(2, 3), 5)

    def test_div_exact(self):
        self.assertEqual(calc.div(7, 2), 3.5)

    def test_div_zero(self):
        self.assertEqual(calc.div(1, 0), 0)

    def test_mul(self):
        self.assertEqual(calc.mul(4, 5), 20)
