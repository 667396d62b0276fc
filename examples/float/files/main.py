n = int(input())
print(1 / n, -0.0 * n)
