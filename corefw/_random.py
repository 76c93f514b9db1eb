"""Random numbers: every backend has its own stream, seeded together by ``manual_seed``.

``corefw.Generator`` is an explicit host-side stream (NumPy's PCG64): pass ``generator=`` to
draw from it instead of the device's default stream; numbers are then made on the host and
copied to the device, so a seeded generator gives the same values on every backend.
"""

from __future__ import annotations

import json

import numpy as np

from . import _dtype
from . import _rules as R
from ._call import wrap
from ._creation import _dev, _size
from ._registry import declare
from ._tensor import Tensor
from .errors import DTypeError

__all__ = ["Generator", "get_rng_state", "initial_seed", "manual_seed", "multinomial",
           "rand", "rand_like", "randint", "randint_like", "randn", "randn_like", "randperm",
           "seed", "set_rng_state"]

_initial_seed = [0]


class Generator:
    """A seedable random stream (``Generator().manual_seed(0)``), as ``torch.Generator``."""

    def __init__(self, device="cpu") -> None:
        self.device = device
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.np = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self.np = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        self.manual_seed(int(np.random.SeedSequence().entropy % (2 ** 63)))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        """The stream's state as a uint8 tensor (restore with :meth:`set_state`)."""
        from ._creation import from_numpy

        return from_numpy(encode_state(self.np.bit_generator.state))

    def set_state(self, state) -> Generator:
        self.np.bit_generator.state = decode_state(state)
        return self


def encode_state(state: dict) -> np.ndarray:
    """A JSON-able RNG state as a uint8 array (how backends store NumPy-style states)."""
    return np.frombuffer(json.dumps(state).encode(), dtype=np.uint8).copy()


def decode_state(state) -> dict:
    arr = np.asarray(state.detach() if isinstance(state, Tensor) else state, dtype=np.uint8)
    return json.loads(arr.tobytes().decode())


_default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed every backend's default stream and the default host generator.

    Backends already in use are seeded now; the others when their first device is used, so
    seeding never imports a device library (PyTorch's lazy CUDA seeding)."""
    from . import dispatch

    seed = int(seed)
    _initial_seed[0] = seed
    dispatch.seed_backends(seed)
    return _default_generator.manual_seed(seed)


def seed() -> int:
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(s)
    return s


def initial_seed() -> int:
    return _initial_seed[0]


def get_rng_state() -> dict[str, Tensor]:
    """The state of the default generator and of every backend in use (by device type)."""
    from ._creation import from_numpy
    from .dispatch import active_backends

    out = {"generator": _default_generator.get_state()}
    for name, backend in active_backends().items():
        out[name] = from_numpy(np.asarray(backend.get_rng_state(), dtype=np.uint8))
    return out


def set_rng_state(state: dict) -> None:
    """Restore a state from :func:`get_rng_state` (a backend not in use yet is restored when
    its first device is used)."""
    from . import dispatch

    for name, value in state.items():
        arr = np.asarray(value.detach() if isinstance(value, Tensor) else value, np.uint8)
        if name == "generator":
            _default_generator.set_state(arr)
        else:
            dispatch.set_backend_rng_state(name, arr)


# Random primitives (kernels ``uniform(shape, low=, high=, dtype=)``, ``normal(shape, mean=,
# std=, dtype=)``, ``randint(shape, low=, high=, dtype=)``, ``randperm(n, dtype=)``).
for _name in ("uniform", "normal", "randint"):
    declare(_name, rule=R.creation, differentiable=False, saves=(), primitive=True)
declare("randperm", rule=R.randperm, differentiable=False, saves=(), primitive=True)


def _random(kind, size, dtype, device, generator, requires_grad, **params):
    d = _dtype.to_dtype(dtype) if dtype is not None else _dtype.get_default_dtype()
    if kind != "randint" and not d.is_floating_point:
        raise DTypeError(f"{'rand' if kind == 'uniform' else 'randn'}: expected a floating "
                         f"dtype, got {d}; use randint for integers")
    dev = _dev(device)
    shape = _size(size)
    if generator is not None:
        g = generator.np
        if kind == "uniform":
            arr = g.random(shape) * (params["high"] - params["low"]) + params["low"]
        elif kind == "normal":
            arr = g.standard_normal(shape) * params["std"] + params["mean"]
        else:
            arr = g.integers(params["low"], params["high"], size=shape)
        t = wrap(dev.backend.from_host(np.ascontiguousarray(arr.astype(d.np)), dev.index), dev)
    else:
        t = wrap(dev.table[kind](shape, dtype=d.np, **params), dev)
    return t.requires_grad_(True) if requires_grad else t


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1)."""
    return _random("uniform", size, dtype, device, generator, requires_grad, low=0.0, high=1.0)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples."""
    return _random("normal", size, dtype, device, generator, requires_grad, mean=0.0, std=1.0)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False) -> Tensor:
    """Integers in [low, high) (``randint(high, size)`` also works), int64 by default."""
    if size is None:
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    d = _dtype.int64 if dtype is None else _dtype.to_dtype(dtype)
    return _random("randint", (tuple(size),), d, device, generator, requires_grad,
                   low=int(low), high=int(high))


def randperm(n: int, *, generator=None, dtype=None, device=None) -> Tensor:
    """A random permutation of ``0..n-1``."""
    d = _dtype.int64 if dtype is None else _dtype.to_dtype(dtype)
    dev = _dev(device)
    if generator is not None:
        arr = generator.np.permutation(int(n)).astype(d.np)
        return wrap(dev.backend.from_host(arr, dev.index), dev)
    return wrap(dev.table["randperm"](int(n), dtype=d.np), dev)


def rand_like(input, *, dtype=None, device=None, generator=None) -> Tensor:
    return rand(input.shape, dtype=dtype or input.dtype, device=device or input.device,
                generator=generator)


def randn_like(input, *, dtype=None, device=None, generator=None) -> Tensor:
    return randn(input.shape, dtype=dtype or input.dtype, device=device or input.device,
                 generator=generator)


def randint_like(input, low, high=None, *, dtype=None, device=None) -> Tensor:
    return randint(low, high, input.shape, dtype=dtype or input.dtype,
                   device=device or input.device)


def multinomial(input, num_samples: int, replacement: bool = False, *,
                generator=None) -> Tensor:
    """Sample indices from the rows of non-negative weights ``input`` (1-D or 2-D)."""
    probs = np.asarray(input.detach(), dtype=np.float64)
    if probs.ndim not in (1, 2):
        raise ValueError(f"multinomial: expected 1-D or 2-D weights, got shape {probs.shape}")
    if (probs < 0).any() or not np.isfinite(probs).all():
        raise ValueError("multinomial: weights must be finite and non-negative")
    rows = probs.reshape(-1, probs.shape[-1])
    if (rows.sum(axis=1) <= 0).any():
        raise ValueError("multinomial: every row of weights must have a positive sum")
    if not replacement and num_samples > (rows > 0).sum(axis=1).min():
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without "
                         f"replacement from {int((rows > 0).sum(axis=1).min())} non-zero "
                         f"weights")
    g = (generator or _host_generator()).np
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for r, p in enumerate(rows):
        out[r] = g.choice(len(p), size=num_samples, replace=replacement, p=p / p.sum())
    if probs.ndim == 1:
        out = out[0]
    dev = input.device
    if dev.backend is None:
        raise DTypeError("multinomial: input has no device")
    return wrap(dev.backend.from_host(out, dev.index), dev)


def _host_generator() -> Generator:
    return _default_generator
