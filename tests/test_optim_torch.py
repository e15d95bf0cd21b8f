"""funcgrad.nn.optim trajectories against torch.optim (PyTorch as the oracle).

20 steps on a small MLP regression problem in float64: the parameters after every step must
equal PyTorch's with the same hyperparameters.
"""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.nn import optim

torch = pytest.importorskip("torch")

STEPS = 20


def _problem():
    rng = np.random.default_rng(42)
    x = rng.normal(size=(16, 3))
    t = np.sin(x.sum(axis=1, keepdims=True))
    params = {"W1": rng.normal(size=(3, 5)) * 0.5, "b1": rng.normal(size=(5,)) * 0.1,
              "W2": rng.normal(size=(5, 1)) * 0.5, "b2": np.zeros(1)}
    return x, t, params


def _loss_fg(p, x, t):
    h = fnp.tanh(x @ p["W1"] + p["b1"])
    return fnp.mean((h @ p["W2"] + p["b2"] - t) ** 2)


def _run_fg(opt):
    x, t, params = _problem()
    state = opt.init(params)
    traj = []
    for _ in range(STEPS):
        g = fg.grad(_loss_fg)(params, x, t)
        u, state = opt.update(g, state, params)
        params = optim.apply_updates(params, u)
        traj.append(params)
    return traj


def _run_torch(make_opt):
    x, t, params = _problem()
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    xt, tt = torch.tensor(x), torch.tensor(t)
    opt = make_opt([tp[k] for k in sorted(tp)])
    traj = []
    for _ in range(STEPS):
        opt.zero_grad()
        h = torch.tanh(xt @ tp["W1"] + tp["b1"])
        loss = torch.mean((h @ tp["W2"] + tp["b2"] - tt) ** 2)
        loss.backward()
        opt.step()
        traj.append({k: v.detach().numpy().copy() for k, v in tp.items()})
    return traj


CASES = {
    "sgd": (lambda: optim.sgd(0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "momentum": (lambda: optim.momentum(0.05, 0.9),
                 lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    "nesterov": (lambda: optim.momentum(0.05, 0.8, nesterov=True),
                 lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True)),
    "sgd_wd": (lambda: optim.sgd(0.05, momentum=0.9, weight_decay=0.01),
               lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01)),
    "adam": (lambda: optim.adam(0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "adam_hparams": (lambda: optim.adam(0.02, b1=0.8, b2=0.95, eps=1e-6),
                     lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.95), eps=1e-6)),
    "adam_l2": (lambda: optim.adam(0.01, weight_decay=0.1),
                lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1)),
    "adamw": (lambda: optim.adamw(0.01, weight_decay=0.1),
              lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
    "adamw_default": (lambda: optim.adamw(0.01), lambda ps: torch.optim.AdamW(ps, lr=0.01)),
    "adagrad": (lambda: optim.adagrad(0.1), lambda ps: torch.optim.Adagrad(ps, lr=0.1)),
    "adadelta": (lambda: optim.adadelta(1.0, rho=0.9),
                 lambda ps: torch.optim.Adadelta(ps, lr=1.0, rho=0.9)),
    "rmsprop": (lambda: optim.rmsprop(0.01), lambda ps: torch.optim.RMSprop(ps, lr=0.01)),
    "rmsprop_centered_momentum": (
        lambda: optim.rmsprop(0.01, decay=0.9, centered=True, momentum=0.5),
        lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, centered=True, momentum=0.5)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_trajectory_matches_torch(name):
    make_fg, make_torch = CASES[name]
    ours, theirs = _run_fg(make_fg()), _run_torch(make_torch)
    moved = max(float(np.abs(theirs[-1][k] - _problem()[2][k]).max()) for k in theirs[-1])
    assert moved > 1e-3  # the problem really moves the parameters
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for k in b:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name}: step {step + 1}, param {k}")


def test_clip_by_global_norm_matches_torch():
    x, t, params = _problem()
    g = fg.grad(_loss_fg)(params, x, t)
    tg = [torch.tensor(g[k]) for k in sorted(g)]
    for v in tg:
        v.grad = v.clone()
    norm = float(torch.nn.utils.clip_grad_norm_(tg, 0.01))
    clip = optim.clip_by_global_norm(0.01)
    u, _ = clip.update(g, clip.init(params))
    np.testing.assert_allclose(float(optim.global_norm(g)), norm, rtol=1e-12)
    for k, v in zip(sorted(g), tg):
        # torch divides by (norm + 1e-6); funcgrad by norm exactly
        np.testing.assert_allclose(u[k], v.grad.numpy(), rtol=1e-3)
