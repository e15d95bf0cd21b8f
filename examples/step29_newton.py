"""Steps 29 and 33 of "Deep Learning from Scratch 3" (DeZero): Newton's method.

    x <- x - f'(x) / f''(x),   f(x) = x^4 - 2x^2,  from x = 2.0

Step 29 writes f'' by hand; step 33 gets it by double backprop, where forgetting
`x.cleargrad()` between the two backward passes gives f''(2) = 68 instead of 44. Here the second
derivative is simply `fg.grad(fg.grad(f))`: there is no gradient state to clear, so it is 44.
Newton reaches the minimum x = 1 in 7 iterations.
"""
import funcgrad as fg


def f(x):
    return x ** 4 - 2 * x ** 2


df = fg.grad(f)
d2f = fg.grad(df)


def main(iters=10, verbose=False):
    assert d2f(2.0) == 44.0  # S33: 24 + 44 = 68 would mean a stale first gradient leaked in
    x, xs = 2.0, []
    for i in range(iters):
        if verbose:
            print(i, x)
        xs.append(float(x))
        x = x - df(x) / d2f(x)
    return {"xs": xs, "df_at_2": float(df(2.0)), "d2f_at_2": float(d2f(2.0))}


if __name__ == "__main__":
    res = main(verbose=True)
    print("f'(2) =", res["df_at_2"], " f''(2) =", res["d2f_at_2"])
