"""fg.random: the Threefry bit generator (one primitive), keys, and the distributions."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import random as fgr
from funcgrad.avals import ShapedArray
from funcgrad.backend.fusion import c_exprs
from funcgrad.backend.numpy_codegen import compile_ir
from funcgrad.core import NOT_APPLICABLE, FuncgradError, Zero
from funcgrad.ir import eval_ir
from funcgrad.random import random_bits_p, threefry_2x32

KEY = fgr.key(0)


# --- the block function -----------------------------------------------------------------------

@pytest.mark.parametrize("key,ctr,want", [
    # Random123's known-answer vectors for Threefry-2x32, 20 rounds
    ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
])
def test_threefry_known_answers(key, ctr, want):
    got = threefry_2x32(*key, *ctr)
    assert tuple(int(g) for g in got) == want


def test_threefry_matches_jax_on_random_inputs():
    jr = pytest.importorskip("jax.extend.random")
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(0)
    k = rng.integers(0, 2**32, 2, dtype=np.uint32)
    x0, x1 = rng.integers(0, 2**32, (2, 50), dtype=np.uint32)
    # JAX hashes the pairs (count[i], count[i + n/2]) of a flat count array
    want = np.asarray(jr.threefry_2x32(jnp.asarray(k), jnp.asarray(np.concatenate([x0, x1]))))
    got = threefry_2x32(k[0], k[1], x0, x1)
    np.testing.assert_array_equal(np.concatenate(got), want)


# --- the primitive's rule slots (a registry test for random_bits_p) ---------------------------

def test_random_bits_rule_slots():
    for slot in ("impl", "abstract_eval", "jvp", "batch"):
        assert callable(getattr(random_bits_p, slot)), slot
    assert random_bits_p.transpose == NOT_APPLICABLE
    assert c_exprs[random_bits_p] == NOT_APPLICABLE  # never fused into elementwise kernels
    aval = random_bits_p.abstract_eval(ShapedArray((2,), np.uint32), shape=(3, 4))[0]
    assert aval == ShapedArray((3, 4), np.uint32)
    batched = random_bits_p.abstract_eval(ShapedArray((5, 2), np.uint32), shape=(3,))[0]
    assert batched.shape == (5, 3)
    with pytest.raises(FuncgradError, match="uint32"):
        random_bits_p.abstract_eval(ShapedArray((2,), np.float32), shape=(3,))
    # jvp: integer output, symbolic-zero tangent
    outs, touts = random_bits_p.jvp((KEY,), (Zero(ShapedArray((2,), np.uint32)),), shape=(3,))
    assert type(touts[0]) is Zero and touts[0].aval.shape == (3,)
    np.testing.assert_array_equal(outs[0], random_bits_p.impl(KEY, shape=(3,)))
    # batch rule: a batch of keys on any axis gives one stream per key
    keys = fgr.split(KEY, 3)
    (out,), (bd,) = random_bits_p.batch(3, [keys.T], [1], shape=(4,))
    loop = np.stack([random_bits_p.impl(k, shape=(4,)) for k in keys])
    np.testing.assert_array_equal(np.moveaxis(np.asarray(out), bd, 0), loop)
    # the lowering (generated NumPy code) computes what impl computes
    lowered = compile_ir(fg.make_ir(lambda k: random_bits_p.bind(k, shape=(5,)))(KEY))
    np.testing.assert_array_equal(lowered(KEY)[0], random_bits_p.impl(KEY, shape=(5,)))


# --- keys -------------------------------------------------------------------------------------

def test_key_layout_and_seeds():
    np.testing.assert_array_equal(fgr.key(0), np.array([0, 0], np.uint32))
    np.testing.assert_array_equal(fgr.key(5), np.array([0, 5], np.uint32))
    np.testing.assert_array_equal(fgr.key(2**32 + 7), np.array([1, 7], np.uint32))
    np.testing.assert_array_equal(fgr.key(-1), np.array([2**32 - 1] * 2, np.uint32))
    assert fgr.key(3).dtype == np.uint32 and fgr.key(3).shape == (2,)
    assert not np.array_equal(fgr.uniform(fgr.key(1), (4,)), fgr.uniform(fgr.key(2), (4,)))


def test_determinism_pinned_values():
    # same key -> same numbers on every run: pin the first draws of key(0)
    np.testing.assert_array_equal(fgr.split(KEY), np.array(
        [[1797259609, 1351547692], [2579123966, 3235790642]], np.uint32))
    a = fgr.uniform(KEY, (5,))
    np.testing.assert_array_equal(a, fgr.uniform(fgr.key(0), (5,)))
    bits = random_bits_p.impl(KEY, shape=(5,))
    np.testing.assert_array_equal(a, ((bits >> 8).astype(np.float64) * 2.0**-24)
                                  .astype(np.float32))


def test_split_and_fold_in_give_distinct_streams():
    k1, k2 = fgr.split(KEY)
    keys = fgr.split(KEY, 8)
    assert keys.shape == (8, 2) and keys.dtype == np.uint32
    folded = np.stack([fgr.fold_in(KEY, i) for i in range(8)])
    all_keys = np.concatenate([keys, folded, KEY[None]])
    assert len({tuple(k) for k in all_keys}) == len(all_keys)
    draws = np.stack([fgr.uniform(k, (2000,), np.float64) for k in all_keys])
    c = np.corrcoef(draws)
    off = c[~np.eye(len(c), dtype=bool)]
    assert np.max(np.abs(off)) < 0.1  # ~N(0, 1/2000) -> |r| < 0.1 with huge margin
    # fold_in is deterministic and depends on the data
    np.testing.assert_array_equal(fgr.fold_in(KEY, 3), fgr.fold_in(KEY, np.int64(3)))
    assert not np.array_equal(fgr.fold_in(KEY, 3), fgr.fold_in(KEY, 4))
    assert not np.array_equal(fgr.fold_in(k1, 0), fgr.fold_in(k2, 0))


@pytest.mark.parametrize("bad", [0, np.zeros(2, np.float32), np.zeros(3, np.uint32),
                                 np.zeros((4, 2), np.uint32), "key", None])
def test_bad_keys_are_clear_errors(bad):
    with pytest.raises(FuncgradError, match="PRNG key") as e:
        fgr.uniform(bad, (3,))
    assert "fg.random.key(seed)" in str(e.value)
    assert "test_random.py" in str(e.value)  # names the user's line


def test_bad_arguments():
    with pytest.raises(FuncgradError, match="float dtype"):
        fgr.uniform(KEY, (2,), np.int32)
    with pytest.raises(FuncgradError, match="maxval > minval"):
        fgr.randint(KEY, (2,), 5, 5)
    with pytest.raises(FuncgradError, match="integer"):
        fgr.key(1.5)
    with pytest.raises(FuncgradError, match="num"):
        fgr.split(KEY, 0)


# --- distributions: shapes, dtypes, moments ---------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_uniform_range_moments_and_ks(dtype):
    u = fgr.uniform(KEY, (20000,), dtype)
    assert u.dtype == dtype and u.shape == (20000,)
    assert u.min() >= 0 and u.max() < 1
    x = np.sort(u.astype(np.float64))
    ks = np.max(np.abs(np.arange(1, len(x) + 1) / len(x) - x))
    assert ks < 1.63 / math.sqrt(len(x)) + 1e-3  # KS at the 1% level
    assert abs(x.mean() - 0.5) < 0.01 and abs(x.var() - 1 / 12) < 0.005
    v = fgr.uniform(KEY, (3, 4), dtype, minval=-2.0, maxval=3.0)
    assert v.shape == (3, 4) and v.min() >= -2 and v.max() < 3


def test_uniform_float64_uses_53_bits():
    u = fgr.uniform(KEY, (1000,), np.float64)
    frac = u * 2.0**53
    np.testing.assert_array_equal(frac, np.floor(frac))
    assert np.mean((frac % 2**24) != 0) > 0.9  # low bits are populated (not a float32 cast)


def _normal_cdf(x):
    from math import erf
    return 0.5 * (1 + np.vectorize(erf)(x / math.sqrt(2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_moments_and_ks(dtype):
    z = fgr.normal(fgr.key(1), (20000,), dtype)
    assert z.dtype == dtype and np.all(np.isfinite(z))
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03
    assert abs(np.mean(z**3)) < 0.1 and abs(np.mean(z**4) - 3) < 0.2
    x = np.sort(z.astype(np.float64))
    ks = np.max(np.abs(np.arange(1, len(x) + 1) / len(x) - _normal_cdf(x)))
    assert ks < 1.63 / math.sqrt(len(x)) + 1e-3
    assert fgr.normal(KEY).shape == ()


def test_bernoulli():
    b = fgr.bernoulli(KEY, 0.3, (20000,))
    assert b.dtype == np.bool_ and abs(b.mean() - 0.3) < 0.015
    p = np.array([0.0, 1.0, 0.5])
    bp = fgr.bernoulli(KEY, p)
    assert bp.shape == (3,) and not bp[0] and bp[1]
    assert fgr.bernoulli(KEY, 0.5, (4, 5)).shape == (4, 5)


def test_randint():
    r = fgr.randint(KEY, (30000,), 3, 13)
    assert r.dtype == np.int32 and r.min() == 3 and r.max() == 12
    counts = np.bincount(r - 3, minlength=10)
    expected = len(r) / 10
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 30  # 9 degrees of freedom: p ~ 4e-4
    r1 = fgr.randint(KEY, (5,), 4, dtype=np.int64)
    assert r1.dtype == np.int64 and r1.max() < 4 and r1.min() >= 0


def test_permutation():
    p = fgr.permutation(KEY, 100)
    assert sorted(p.tolist()) == list(range(100))
    assert not np.array_equal(p, np.arange(100))
    np.testing.assert_array_equal(p, fgr.permutation(fgr.key(0), 100))
    x = np.arange(20).reshape(10, 2)
    px = fgr.permutation(KEY, x)
    np.testing.assert_array_equal(px, x[fgr.permutation(KEY, 10)])
    # uniform over orderings: the first element of a 4-permutation over many keys
    firsts = np.array([fgr.permutation(fgr.key(i), 4)[0] for i in range(800)])
    assert np.all(np.abs(np.bincount(firsts, minlength=4) / 800 - 0.25) < 0.06)


def test_categorical():
    logits = np.log(np.array([0.1, 0.2, 0.7]))
    s = fgr.categorical(KEY, logits, shape=(20000,))
    freq = np.bincount(s, minlength=3) / len(s)
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.7], atol=0.015)
    batched = fgr.categorical(KEY, np.array([[0.0, -1e9], [-1e9, 0.0], [-1e9, 0.0]]))
    np.testing.assert_array_equal(batched, [0, 1, 1])
    cols = fgr.categorical(KEY, np.array([[0.0, -1e9], [-1e9, 0.0]]), axis=0)
    np.testing.assert_array_equal(cols, [0, 1])
    many = fgr.categorical(KEY, np.array([[0.0, -1e9], [-1e9, 0.0], [-1e9, 0.0]]), shape=(4, 3))
    np.testing.assert_array_equal(many, np.tile([0, 1, 1], (4, 1)))
    with pytest.raises(FuncgradError, match="must end with"):
        fgr.categorical(KEY, np.zeros((3, 2)), shape=(4, 2))


def test_truncated_normal():
    t = fgr.truncated_normal(KEY, -1.0, 2.0, (20000,))
    assert t.dtype == np.float32 and t.min() >= -1 and t.max() <= 2
    # mean of N(0,1) truncated to [a, b] is (phi(a) - phi(b)) / (Phi(b) - Phi(a))
    a, b = -1.0, 2.0
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    mean = (phi(a) - phi(b)) / (Phi(b) - Phi(a))
    assert abs(t.mean() - mean) < 0.02
    x = np.sort(t.astype(np.float64))
    cdf = (_normal_cdf(x) - Phi(a)) / (Phi(b) - Phi(a))
    assert np.max(np.abs(np.arange(1, len(x) + 1) / len(x) - cdf)) < 0.015
    assert fgr.truncated_normal(KEY, shape=(3, 2)).shape == (3, 2)


# --- transforms -------------------------------------------------------------------------------

SAMPLERS = {
    "uniform": lambda k: fgr.uniform(k, (3, 2)),
    "normal": lambda k: fgr.normal(k, (4,), np.float64),
    "bernoulli": lambda k: fgr.bernoulli(k, 0.5, (5,)),
    "randint": lambda k: fgr.randint(k, (5,), -3, 9),
    "permutation": lambda k: fgr.permutation(k, 7),
    "categorical": lambda k: fgr.categorical(k, np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])),
    "truncated_normal": lambda k: fgr.truncated_normal(k, -0.5, 0.5, (6,)),
    "split": lambda k: fgr.split(k, 3),
    "fold_in": lambda k: fgr.fold_in(k, 11),
}


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_staged_equals_eager(name):
    f = SAMPLERS[name]
    ir = fg.make_ir(f)(KEY)
    assert "random_bits" in str(ir)
    (staged,) = eval_ir(ir, [KEY])
    eager = f(KEY)
    np.testing.assert_array_equal(staged, eager)
    assert np.asarray(staged).dtype == np.asarray(eager).dtype


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_vmap_over_keys_equals_loop(name):
    f = SAMPLERS[name]
    keys = fgr.split(fgr.key(7), 4)
    batched = fg.vmap(f)(keys)
    loop = np.stack([f(k) for k in keys])
    np.testing.assert_array_equal(batched, loop)


def test_vmap_over_fold_in_data_and_traced_bounds():
    ks = fg.vmap(lambda i: fgr.fold_in(KEY, i))(np.arange(5))
    np.testing.assert_array_equal(ks, np.stack([fgr.fold_in(KEY, i) for i in range(5)]))
    lo = np.array([0.0, 10.0, 20.0])
    u = fg.vmap(lambda m: fgr.uniform(KEY, (4,), minval=m, maxval=m + 1.0))(lo)
    np.testing.assert_allclose(u, lo[:, None] + fgr.uniform(KEY, (4,)), rtol=1e-6)


def test_traced_key_from_seed_and_fold_in_under_make_ir():
    def f(seed, step):
        return fgr.normal(fgr.fold_in(fgr.key(seed), step), (3,))
    ir = fg.make_ir(f)(np.int32(4), np.int32(2))
    (out,) = eval_ir(ir, [np.int32(4), np.int32(9)])
    np.testing.assert_array_equal(out, f(4, 9))


def test_grad_through_sampling_with_parameters():
    # reparameterisation: d/dmu E[mu + sigma z] = 1, d/dsigma sum(mu + sigma z) = sum(z)
    z = fgr.normal(KEY, (10,), np.float64)

    def f(mu, sigma):
        return fnp.sum(mu + sigma * fgr.normal(KEY, (10,), np.float64))
    gmu, gsig = fg.grad(f, argnums=(0, 1))(0.5, 2.0)
    np.testing.assert_allclose(gmu, 10.0)
    np.testing.assert_allclose(gsig, z.sum(), rtol=1e-12)
    g = fg.grad(lambda lo: fnp.sum(fgr.uniform(KEY, (6,), np.float64, minval=lo, maxval=4.0)))(
        1.0)
    u = fgr.uniform(KEY, (6,), np.float64)
    np.testing.assert_allclose(g, np.sum(1 - u), rtol=1e-12)


def test_permutation_ties_keep_index_order():
    from funcgrad.random import _gpu_stable_argsort
    words = np.array([5, 3, 5, 3, 0, 5], np.uint32)
    np.testing.assert_array_equal(_gpu_stable_argsort(np, words), [4, 1, 3, 0, 2, 5])
    np.testing.assert_array_equal(_gpu_stable_argsort(np, words),
                                  np.argsort(words, kind="stable"))


def test_traced_permutation_medium_size_matches_eager():
    (staged,) = eval_ir(fg.make_ir(lambda k: fgr.permutation(k, 1500))(KEY), [KEY])
    np.testing.assert_array_equal(staged, fgr.permutation(KEY, 1500))


def test_traced_permutation_of_many_elements_matches_eager():
    # 1e5 random 32-bit words almost surely hold ties: the staged sort must be stable as well
    n = 100_000
    staged = fg.jit(lambda k: fgr.permutation(k, n))(KEY)
    eager = fgr.permutation(KEY, n)
    np.testing.assert_array_equal(staged, eager)
    np.testing.assert_array_equal(np.sort(staged), np.arange(n))
    keys = fgr.split(KEY, 3)
    batched = fg.vmap(lambda k: fgr.permutation(k, 50))(keys)
    for i in range(3):
        np.testing.assert_array_equal(batched[i], fgr.permutation(keys[i], 50))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**63 - 1), st.lists(st.integers(0, 5), min_size=0, max_size=3))
def test_any_seed_any_shape(seed, shape):
    k = fgr.key(seed)
    u = fgr.uniform(k, tuple(shape))
    assert u.shape == tuple(shape) and u.dtype == np.float32
    assert np.all((u >= 0) & (u < 1))
    np.testing.assert_array_equal(u, fgr.uniform(fgr.key(seed), tuple(shape)))


@pytest.mark.parametrize("name", ["normal", "permutation", "categorical", "split"])
def test_jit_equals_eager(name):
    f = SAMPLERS[name]
    jf = fg.jit(f)
    np.testing.assert_array_equal(jf(KEY), f(KEY))
    k2 = fgr.key(123)
    np.testing.assert_array_equal(jf(k2), f(k2))  # the key is an argument, not a constant
    np.testing.assert_array_equal(fg.jit(fg.vmap(f))(fgr.split(KEY, 3)),
                                  np.stack([f(k) for k in fgr.split(KEY, 3)]))


def test_gumbel_exponential_choice():
    g = fgr.gumbel(KEY, (20000,))
    assert g.dtype == np.float32 and abs(g.mean() - 0.5772157) < 0.03
    assert abs(g.var() - math.pi**2 / 6) < 0.1
    e = fgr.exponential(fgr.key(3), (20000,), np.float64)
    assert e.min() > 0 and abs(e.mean() - 1) < 0.03 and abs(e.var() - 1) < 0.08
    c = fgr.choice(KEY, 4, (20000,))
    assert abs(np.bincount(c, minlength=4) / 20000 - 0.25).max() < 0.015
    cp = fgr.choice(KEY, 3, (20000,), p=np.array([0.2, 0.3, 0.5]))
    np.testing.assert_allclose(np.bincount(cp, minlength=3) / 20000, [0.2, 0.3, 0.5], atol=0.015)
    a = np.arange(10) * 10
    nr = fgr.choice(KEY, a, (2, 3), replace=False)
    assert nr.shape == (2, 3) and len(set(nr.ravel().tolist())) == 6 and set(nr.ravel()) <= set(a)
    with pytest.raises(FuncgradError, match="without replacement"):
        fgr.choice(KEY, 3, (4,), replace=False)
    ir = fg.make_ir(lambda k: fgr.choice(k, a, (3,)))(KEY)
    np.testing.assert_array_equal(eval_ir(ir, [KEY])[0], fgr.choice(KEY, a, (3,)))


def test_docstring_examples_run():
    import doctest
    res = doctest.testmod(fgr)
    assert res.failed == 0 and res.attempted > 0


def test_fold_in_is_not_symmetric_in_seed_and_data():
    # key(s) is [0, s]: mixing the key itself with [tag, d] made fold_in(key(a), b) equal
    # fold_in(key(b), a), so a DataLoader seeded 0 replayed seed 1's order one epoch later
    for a, b in [(0, 1), (0, 2), (3, 7)]:
        assert not np.array_equal(fg.random.fold_in(fg.random.key(a), b),
                                  fg.random.fold_in(fg.random.key(b), a))
    from funcgrad import data
    order = lambda seed, epoch: data.DataLoader(  # noqa: E731
        (np.arange(50),), 50, key=fg.random.key(seed)).order(epoch)
    assert not np.array_equal(order(0, 1), order(1, 0))
