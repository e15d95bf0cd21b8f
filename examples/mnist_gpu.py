"""Step 52 of "Deep Learning from Scratch 3": the MNIST MLP on the GPU, timed next to the CPU.

The same jitted training step runs on both devices: `fg.jit` follows its arguments, so with the
parameters, optimizer state and data on the GPU (`fg.device_put(tree, "gpu")`) it compiles to
fused CuPy kernels, and with NumPy arrays to NumPy code. Each epoch prints its time and the
held-out accuracy, per device. Without CuPy or a GPU the script says so and times the CPU only.

Data as in `step51_mnist.py`: the standard split when the four IDX files are in `--root`,
otherwise the 10,000-image test set split into 8,000 training / 2,000 held-out images.

    python examples/mnist_gpu.py --epochs 3
    python examples/mnist_gpu.py --epochs 1 --limit 2000 --device cpu
"""
import argparse
import os
import sys
import time

import numpy as np
from step51_mnist import DEFAULT_ROOT, load_split, make_model

import funcgrad as fg
from funcgrad import data, nn
from funcgrad.nn import optim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _progress import progress  # noqa: E402  (examples/_progress.py: tqdm when on a terminal)


def gpu_available() -> bool:
    return any(str(d).startswith("gpu") for d in fg.devices())


def train_on(device, model_name, x_train, t_train, x_eval, t_eval, epochs=1, batch_size=100,
             seed=0, verbose=False):
    """Train on `device` ('cpu' or 'gpu'); returns per-epoch (seconds, held-out accuracy)."""
    model, opt = make_model(model_name)
    key_init, key_data = fg.random.split(fg.random.key(seed))
    params = model.init(key_init, x_train[:1])
    put = (lambda t: fg.device_put(t, "gpu")) if device == "gpu" else (lambda t: t)
    params, x_dev, t_dev = put(params), put(x_train), put(t_train)
    opt_state = opt.init(params)
    x_ev, t_ev = put(x_eval), put(t_eval)
    xp = fg.backend.get_array_module(x_dev)
    batches = data.DataLoader(np.arange(len(t_train)), batch_size=batch_size, shuffle=True,
                              key=key_data)

    @fg.jit
    def step(params, opt_state, x, t):
        loss, g = fg.value_and_grad(lambda p: nn.softmax_cross_entropy(model.apply(p, x), t))(
            params)
        updates, opt_state = opt.update(g, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    accuracy = fg.jit(lambda p, x, t: nn.accuracy(model.apply(p, x), t))
    out = []
    for epoch in progress(range(epochs), desc="epochs"):
        start = time.perf_counter()
        for idx in batches:
            i = xp.asarray(idx)
            params, opt_state, loss = step(params, opt_state, x_dev[i], t_dev[i])
        acc = float(accuracy(params, x_ev, t_ev))  # also waits for the device to finish
        seconds = time.perf_counter() - start
        out.append((seconds, acc))
        if verbose:
            print(f"{device}: epoch {epoch + 1}, {seconds:.2f} s, held-out accuracy {acc:.4f}")
    return out


def main(root=DEFAULT_ROOT, model="sigmoid", epochs=1, limit=None, devices=None, verbose=False):
    x_train, t_train, x_eval, t_eval, desc = load_split(root)
    if limit is not None:
        x_train, t_train = x_train[:limit], t_train[:limit]
    if devices is None:
        devices = ("cpu", "gpu") if gpu_available() else ("cpu",)
    if verbose:
        print(f"MNIST: {desc}; model {model}; devices {fg.devices()}")
        if "gpu" not in devices:
            print("no GPU here (needs CuPy and a CUDA device): timing the CPU only")
    results = {d: train_on(d, model, x_train, t_train, x_eval, t_eval, epochs=epochs,
                           verbose=verbose) for d in devices}
    if verbose and len(results) == 2:
        cpu, gpu = (np.median([s for s, _ in results[d]]) for d in ("cpu", "gpu"))
        print(f"time per epoch: CPU {cpu:.2f} s, GPU {gpu:.2f} s ({cpu / gpu:.1f}x)")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(DEFAULT_ROOT))
    ap.add_argument("--model", choices=("sigmoid", "relu"), default="sigmoid")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--device", choices=("cpu", "gpu", "both"), default=None)
    a = ap.parse_args()
    devs = None if a.device is None else (("cpu", "gpu") if a.device == "both" else (a.device,))
    main(root=a.root, model=a.model, epochs=a.epochs, limit=a.limit, devices=devs, verbose=True)
