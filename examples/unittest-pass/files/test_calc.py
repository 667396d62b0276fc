import unittest

import calc


class TestCalc(unittest.TestCase):
    def test_add(self):
        self.assertEqual(calc.add(2, 3), 5)

    def test_mul(self):
        self.assertEqual(calc.mul(4, 5), 20)

    def test_div(self):
        self.assertEqual(calc.div(9, 3), 3)
