"""Data-parallel scaling of the jitted 784-1000-10 MLP training step over MPI ranks.

    python benchmarks/data_parallel.py [--ranks 1 2] [--batch 128] [--global-batch 256]

The script launches itself under ``mpiexec -n R`` for each R (one BLAS thread per rank) and
reports, for float32 data:

- weak scaling: a fixed per-rank batch (``--batch``); efficiency = t(1 rank) / t(R ranks);
- strong scaling: a fixed global batch (``--global-batch``) split over the ranks;
  speedup = t(1 rank) / t(R ranks);
- the cost of the gradient all-reduce alone (``parallel.pmean`` of the 3.2 MB gradient tree,
  jitted) per step, and its share of the step;
- with one process: the step with and without ``pmean`` (the collective is the identity).

Each figure is the median (and min) over ``--repeats`` timings of ``--steps`` steps.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time


def worker(args):
    import numpy as np

    import funcgrad as fg
    from funcgrad import nn, parallel

    parallel.init()
    rank, size = parallel.rank(), parallel.size()
    model = nn.MLP((1000, 10), activation=nn.relu)
    rng = np.random.default_rng(rank)

    def data(n):
        return rng.standard_normal((n, 784)).astype(np.float32), rng.integers(0, 10, n)

    params = parallel.broadcast(model.init(fg.random.key(0), data(1)[0]))

    def loss_fn(p, x, t):
        return nn.softmax_cross_entropy(model.apply(p, x), t)

    def make_step(reduce):
        @fg.jit
        def step(p, x, t):
            loss, g = fg.value_and_grad(loss_fn)(p, x, t)
            g = reduce(g)
            return fg.tree_util.tree_map(lambda a, b: a - 0.01 * b, p, g), loss
        return step

    def timeit(fn, *a):
        out = fn(*a)  # compile and warm up
        fn(*a)
        times = []
        for _ in range(args.repeats):
            parallel.barrier()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                out = fn(*a)
            times.append((time.perf_counter() - t0) / args.steps)
        del out
        # the slowest rank sets the pace of a synchronous step
        times = np.max(parallel.all_gather(np.array(times)), axis=0)
        return {"median_ms": 1e3 * float(np.median(times)), "min_ms": 1e3 * float(np.min(times))}

    step = make_step(parallel.pmean)
    res = {"ranks": size}
    x, t = data(args.batch)
    res["weak"] = timeit(step, params, x, t)
    x, t = data(args.global_batch // size)
    res["strong"] = timeit(step, params, x, t)
    grads = fg.grad(loss_fn)(params, x, t)
    nbytes = sum(np.asarray(g).nbytes for g in fg.tree_util.tree_leaves(grads))
    res["allreduce"] = timeit(fg.jit(parallel.pmean), grads)
    res["allreduce"]["mbytes"] = nbytes / 1e6
    if size == 1:
        x, t = data(args.batch)
        res["weak_without_pmean"] = timeit(make_step(lambda g: g), params, x, t)
    if rank == 0:
        print("RESULT " + json.dumps(res), flush=True)


def launch(args):
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    results = []
    for r in args.ranks:
        cmd = [mpiexec, "-n", str(r), sys.executable, os.path.abspath(__file__), "--worker",
               "--batch", str(args.batch), "--global-batch", str(args.global_batch),
               "--steps", str(args.steps), "--repeats", str(args.repeats)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        line = [s for s in out.stdout.splitlines() if s.startswith("RESULT ")]
        if out.returncode or not line:
            sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
        results.append(json.loads(line[0][7:]))
    one = results[0]
    print(f"784-1000-10 MLP step (float32), per-rank batch {args.batch} (weak), global batch "
          f"{args.global_batch} (strong); median (min) of {args.repeats} x {args.steps} steps")
    print("ranks | weak ms/step | weak eff. | strong ms/step | strong speedup | "
          "all-reduce ms (share of weak step)")
    for res in results:
        w, s, a = res["weak"], res["strong"], res["allreduce"]
        print(f"{res['ranks']:5d} | {w['median_ms']:6.2f} ({w['min_ms']:6.2f}) | "
              f"{one['weak']['median_ms'] / w['median_ms']:9.2f} | "
              f"{s['median_ms']:6.2f} ({s['min_ms']:6.2f}) | "
              f"{one['strong']['median_ms'] / s['median_ms']:14.2f} | "
              f"{a['median_ms']:.3f} ({a['min_ms']:.3f}) = "
              f"{100 * a['median_ms'] / w['median_ms']:.1f} %")
    if "weak_without_pmean" in one:
        w0 = one["weak_without_pmean"]
        print(f"1 rank, step without pmean: {w0['median_ms']:.2f} ({w0['min_ms']:.2f}) ms; "
              f"with pmean: {one['weak']['median_ms']:.2f} ({one['weak']['min_ms']:.2f}) ms")
    print(f"gradient size: {one['allreduce']['mbytes']:.2f} MB")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, default=128, help="per-rank batch (weak scaling)")
    ap.add_argument("--global-batch", type=int, default=256, help="global batch (strong)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    worker(a) if a.worker else launch(a)
