"""What a backend author's choices cost: a fused kernel against the op's decomposition on two
otherwise identical NumPy backends, and what recording autograd adds to an op.

    python benchmarks/bench_backend.py

Prints a Markdown table; docs/backend-performance.md records the results with the machine.
"""

from __future__ import annotations

import platform
import timeit

import numpy as np

import corefw
from corefw.backend import ArrayModuleBackend
from corefw.backend.toolkit import composite_kernels
from corefw.plugins import hookimpl, register_plugin


def _register(dev: str, drop=()) -> None:
    backend = ArrayModuleBackend(np, device_type=dev, name=dev)
    for name in drop:
        backend.kernels.pop(name, None)

    def register_backends(register):
        register(backend)

    plugin = type("P", (), {"COREFW_PLUGIN_API": ">=1,<2",
                            "register_backends": staticmethod(hookimpl(register_backends))})
    register_plugin(plugin, name=f"bench-{dev}")


def us(fn, number: int) -> float:
    """Best of 5 runs, microseconds per call."""
    return min(timeit.Timer(fn).repeat(number=number, repeat=5)) / number * 1e6


def main() -> None:
    _register("fused")                                        # the toolkit as it is
    _register("decomp", drop=[*composite_kernels(np), "relu", "gelu"])   # primitives only
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}\n")
    print("| case | shape | A (us) | B (us) | B/A |")
    print("|---|---|---|---|---|")
    for shape, number in (((16, 16), 2000), ((256, 512), 100)):
        for label, a, b in _cases(shape):
            ta, tb = us(a, number), us(b, number)
            print(f"| {label} | {shape} | {ta:.1f} | {tb:.1f} | {tb / ta:.2f} |")


def _cases(shape):
    x = {d: corefw.randn(*shape, device=d) for d in ("fused", "decomp")}
    xg = x["fused"].detach().requires_grad_()
    return [
        ("softmax: A fused kernel, B decomposition", lambda: corefw.softmax(x["fused"], 1),
         lambda: corefw.softmax(x["decomp"], 1)),
        ("log_softmax: A fused, B decomposition", lambda: corefw.log_softmax(x["fused"], 1),
         lambda: corefw.log_softmax(x["decomp"], 1)),
        ("x * x: A no grad, B records a node", lambda: x["fused"] * x["fused"],
         lambda: xg * xg),
    ]

if __name__ == "__main__":
    main()
