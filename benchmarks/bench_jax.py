"""Speed of the ``jax`` device (corefw-jax) beside ``cpu``: per-op overhead, a matmul and the
demo CNN's training step eagerly; a forward and training steps through ``corefw.compile``;
a training run under a per-step lr schedule, compiled, with a float and a tensor lr.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_jax.py

Prints a Markdown table; docs/performance.md ("corefw-jax, eager") records the results.
"""

from __future__ import annotations

import os
import timeit
from functools import partial

import numpy as np

import corefw


def us(fn, number: int, dev: str) -> float:
    """Best of 5 runs, microseconds per call, each call's result read: ``jax`` arrays are
    lazy (a result nobody reads is never computed) and JAX dispatches asynchronously."""
    def run():
        for _ in range(number):
            fn().to("cpu")
    run()  # warm-up: JAX compiles each kernel once per shape and dtype
    return min(timeit.Timer(run).repeat(number=1, repeat=5)) / number * 1e6


def step_fn(dev: str, backend=None, capturable: bool = False):
    from corefw.data.datasets import digits
    from corefw.demo import build_model

    data = digits()
    x = corefw.stack([data[i][0] for i in range(32)]).to(dev)
    y = corefw.tensor([int(data[i][1]) for i in range(32)]).to(dev)
    corefw.manual_seed(0)
    model = build_model("cnn").to(dev)
    optim = corefw.optim.Adam(model.parameters(), lr=4e-3, capturable=capturable)

    def step():
        optim.zero_grad()
        loss = corefw.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optim.step()
        return loss
    return step if backend is None else corefw.compile(step, backend=backend)


def _sgd(params):
    return corefw.optim.SGD(params, lr=0.1, momentum=0.9)


def classifier_fn(dev: str, backend=None, make_optim=_sgd):
    """A training step of a bag-of-embeddings classifier (embedding 1000x64, mean over 16
    tokens, linear 64-10, cross_entropy; SGD with momentum unless ``make_optim(params)``
    says otherwise), batch 32. Its optimizer is the returned callable's ``optim``."""
    rng = np.random.default_rng(0)
    tokens = corefw.tensor(rng.integers(0, 1000, (32, 16)), device=dev)
    labels = corefw.tensor(rng.integers(0, 10, 32), device=dev)
    corefw.manual_seed(0)
    emb, lin = corefw.nn.Embedding(1000, 64).to(dev), corefw.nn.Linear(64, 10).to(dev)
    optim = make_optim(list(emb.parameters()) + list(lin.parameters()))

    def step():
        loss = corefw.nn.functional.cross_entropy(lin(emb(tokens).mean(1)), labels)
        loss.backward()
        optim.step()
        optim.zero_grad()
        return loss
    fn = step if backend is None else corefw.compile(step, backend=backend)
    fn.optim = optim
    return fn


def dropout_fn(dev: str, backend=None):
    """A training step of an MLP with dropout (784-256-10, p=0.5, SGD), batch 64: a random
    draw in every step."""
    rng = np.random.default_rng(0)
    x = corefw.tensor(rng.standard_normal((64, 784)), dtype=corefw.float32, device=dev)
    y = corefw.tensor(rng.integers(0, 10, 64), device=dev)
    corefw.manual_seed(0)
    nn = corefw.nn
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(256, 10)).to(dev)
    optim = _sgd(model.parameters())

    def step():
        loss = corefw.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optim.step()
        optim.zero_grad()
        return loss
    return step if backend is None else corefw.compile(step, backend=backend)


def step_table() -> None:
    """Training steps eager and through ``corefw.compile``: the demo CNN (Adam, batch 32; with
    ``capturable=True`` its step counter stays on the device), an embedding classifier (SGD,
    batch 32) and an MLP with dropout (SGD, batch 64). "(replayed)": ``jax.jit`` did not
    take the graph (its ``reason`` is printed)."""
    from corefw_jax.compiler import jax_jit

    print("| device | backend | demo CNN step (Adam) | (Adam, capturable) "
          "| embedding classifier step (SGD) | MLP step with dropout (SGD) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for dev, backends in (("cpu", (None, "default")), ("jax", (None, "replay", "jax"))):
        for b in backends:
            cells = []
            for label, make in (("CNN, Adam", step_fn),
                                ("CNN, Adam capturable", partial(step_fn, capturable=True)),
                                ("classifier", classifier_fn), ("dropout", dropout_fn)):
                made: list = []
                spy = (lambda g, made=made: made.append(jax_jit(g)) or made[-1]) \
                    if b == "jax" else b
                took = us(make(dev, spy), 10, dev) / 1e3
                replayed = [m.reason for m in made if not m.jitted]
                cells.append(f"{took:.2f} ms" + (" (replayed)" if replayed else ""))
                if replayed:
                    print(f"<!-- {label} on {dev}, replayed: {replayed[0][:100]} -->")
            print(f"| {dev} | {b or 'eager'} | " + " | ".join(cells) + " |")


def _scheduled_run(dev: str, backend: str, lr, steps: int):
    """(the compiled classifier step, its scheduler) with Adam(capturable=True) at ``lr``."""
    fn = classifier_fn(dev, backend,
                       lambda params: corefw.optim.Adam(params, lr=lr, capturable=True))
    return fn, corefw.optim.lr_scheduler.CosineAnnealingLR(fn.optim, T_max=steps)


def schedule_table(steps: int = 20) -> None:
    """The embedding classifier trained ``steps`` steps with Adam (``capturable=True``) under
    a per-step cosine schedule, compiled: a float lr (a new capture per value) against a
    tensor lr that the scheduler fills in place (one capture). Whole wall time, first call
    included, each step's loss read."""
    import time

    print("| device | compiler | float lr | tensor lr | captures (float, tensor) |")
    print("| --- | --- | --- | --- | --- |")
    for dev, backend in (("cpu", "default"), ("jax", "jax")):
        cells, captures = [], []
        for lr in (4e-3, corefw.tensor(4e-3, device=dev)):
            compiled, sched = _scheduled_run(dev, backend, lr, steps)
            start = time.perf_counter()
            for _ in range(steps):
                compiled().item()
                sched.step()
            cells.append(f"{time.perf_counter() - start:.2f} s")
            captures.append(str(len(compiled.recompiles) + 1))
        print(f"| {dev} | `{backend}` | " + " | ".join(cells) + f" | {', '.join(captures)} |")


def compiled_table() -> None:
    """An 18-kernel forward (8 x (matmul, tanh), softmax, sum) eager, replayed and jax.jit'ed
    through ``corefw.compile`` (needs a corefw with ``corefw.compile``)."""
    def f(x, w):
        h = x
        for _ in range(8):
            h = (h @ w).tanh()
        return h.softmax(1).sum(0)

    rng = np.random.default_rng(0)
    hx, hw = rng.standard_normal((8, 16)), rng.standard_normal((16, 16)) / 4
    print("| device | backend | forward |\n| --- | --- | --- |")
    for dev, backends in (("cpu", ("replay",)), ("jax", ("replay", "jax"))):
        x = corefw.tensor(hx, dtype=corefw.float32, device=dev)
        w = corefw.tensor(hw, dtype=corefw.float32, device=dev)
        for name, h in [("eager", f)] + [(b, corefw.compile(f, backend=b)) for b in backends]:
            print(f"| {dev} | {name} | {us(lambda h=h, x=x, w=w: h(x, w), 50, dev):.0f} us |")


def main() -> None:
    rows = []
    small = {d: corefw.tensor(np.random.default_rng(0).standard_normal((16, 16)),
                              dtype=corefw.float32, device=d) for d in ("cpu", "jax")}
    big = {d: corefw.tensor(np.random.default_rng(1).standard_normal((256, 256)),
                            dtype=corefw.float32, device=d) for d in ("cpu", "jax")}
    cases = [("`a + a`, (16, 16)", lambda d: (lambda: small[d] + small[d]), 200),
             ("`softmax(a, 1)`, (16, 16)", lambda d: (lambda: small[d].softmax(1)), 200),
             ("`b @ b`, (256, 256)", lambda d: (lambda: big[d] @ big[d]), 50),
             ("demo CNN training step, batch 32 (Adam)", step_fn, 5)]
    for name, make, number in cases:
        rows.append((name, *(us(make(d), number, d) for d in ("cpu", "jax"))))
    print(f"load average {os.getloadavg()[0]:.1f}, jax {__import__('jax').__version__}")
    print("| case | cpu | jax | jax / cpu |\n| --- | --- | --- | --- |")
    for name, c, j in rows:
        print(f"| {name} | {c:.0f} us | {j:.0f} us | {j / c:.1f}x |")
    if hasattr(corefw, "compile"):
        compiled_table()
        step_table()
        schedule_table()


if __name__ == "__main__":
    main()
