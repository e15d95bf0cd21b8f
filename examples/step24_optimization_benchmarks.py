"""Step 24 of "Deep Learning from Scratch 3" (DeZero): gradients of optimisation test functions.

The book overloads operators so that formulas read like maths; funcgrad tracers do the same, so
the functions below are plain Python. `fg.grad(f, argnums=(0, 1))` returns both partials.
"""
import funcgrad as fg


def sphere(x, y):
    return x ** 2 + y ** 2


def matyas(x, y):
    return 0.26 * (x ** 2 + y ** 2) - 0.48 * x * y


def goldstein(x, y):
    return ((1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x ** 2 - 14 * y + 6 * x * y + 3 * y ** 2))
            * (30 + (2 * x - 3 * y) ** 2
               * (18 - 32 * x + 12 * x ** 2 + 48 * y - 36 * x * y + 27 * y ** 2)))


def main():
    res = {}
    for f in (sphere, matyas, goldstein):
        gx, gy = fg.grad(f, argnums=(0, 1))(1.0, 1.0)
        res[f.__name__] = (float(gx), float(gy))
    return res  # (2, 2), (0.040000000000000036, ...), (-5376, 8064)


if __name__ == "__main__":
    for name, (gx, gy) in main().items():
        print(f"{name:10s} {gx!r} {gy!r}")
