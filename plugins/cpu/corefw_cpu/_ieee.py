"""IEEE special values without NumPy's warnings: ``log(0)`` is ``-inf``, ``sqrt(-1)`` and
``0 / 0`` are ``nan``, ``1 / 0`` is ``inf``, silently, as in PyTorch.

NumPy prints a ``RuntimeWarning`` for each of these (its floating-point error state). The
kernels of :data:`SILENT` run with that state set to "ignore" for the length of the call, and
for that call only: the user's own NumPy code, and ``np.errstate`` blocks around it, are left
as they are.

``np.errstate`` itself costs several microseconds a call (a Python class built per use), more
than a whole small op, so :func:`silent` sets NumPy's error-state context variable directly to
a state built once by ``np.errstate(all="ignore")``, and resets it after: the same two steps
``np.errstate`` takes, thread-safe and reentrant like it (each thread has its own context).
Where a NumPy release has no such variable, it falls back to ``np.errstate``.

Left out, measured (docs/performance.md, "IEEE special values"): the hot arithmetic ``add``,
``sub``, ``mul``, ``matmul`` and ``sum``. A wrapper would add a sizeable share to an op whose
whole overhead is about 1 us, and they warn only on overflow or on operands that are already
``inf`` or ``nan`` (``inf - inf``, ``0 * inf``), not on ordinary values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["SILENT", "silence", "silent"]

#: kernels that give IEEE special values for ordinary operands (a domain edge: log(0),
#: sqrt(-1), x / 0, acos(2), pow(0, -1)) or overflow (exp(100) in float32), and the
#: composites and layer kernels built from them
SILENT = frozenset({
    # domain edges
    "div", "floor_divide", "remainder", "pow", "reciprocal", "log", "log1p", "sqrt", "rsqrt",
    "asin", "acos", "acosh", "atanh",
    # overflow, or a non-finite operand (sin(inf))
    "exp", "expm1", "sinh", "cosh", "sin", "cos", "tan", "cast", "prod", "cumsum", "cumprod",
    # composites and layers (log of a probability, masked rows of -inf, 1 / sqrt(var))
    "softmax", "log_softmax", "logsumexp", "softplus", "cross_entropy", "cross_entropy_grad",
    "nll_loss", "binary_cross_entropy", "layer_norm", "batch_norm", "group_norm",
    "scaled_dot_product_attention", "adam_step_",
    # LAPACK: a singular matrix
    "linalg_slogdet", "linalg_solve", "linalg_cholesky", "linalg_eigh", "linalg_svd",
    "linalg_qr",
})

#: the ops among them whose kernels take one or two operands and never an attribute
_ARITY = {**dict.fromkeys(("reciprocal", "log", "log1p", "sqrt", "rsqrt", "asin", "acos",
                           "acosh", "atanh", "exp", "expm1", "sinh", "cosh", "sin", "cos",
                           "tan"), 1),
          **dict.fromkeys(("div", "floor_divide", "remainder", "pow"), 2)}


def _ignore_state():
    """(NumPy's error-state context variable, its "ignore everything" value), or
    ``(None, None)`` where this NumPy keeps its error state elsewhere."""
    try:
        from numpy._core._ufunc_config import _extobj_contextvar as var
    except ImportError:  # pragma: no cover - a NumPy without the context variable
        return None, None
    with np.errstate(all="ignore"):
        return var, var.get()


_VAR, _IGNORE = _ignore_state()


def silent(fn: Callable, arity: int | None = None) -> Callable:
    """``fn`` with NumPy's floating-point warnings off while it runs. ``arity`` 1 or 2: ``fn``
    takes exactly that many operands and no attributes (a fixed signature saves the packing
    of ``*args`` and ``**attrs``, a third of the wrapper's cost)."""
    if _VAR is None:  # pragma: no cover - see _ignore_state
        def kernel(*args, **attrs):
            with np.errstate(all="ignore"):
                return fn(*args, **attrs)
    elif arity == 1:
        set_state, reset, ignore = _VAR.set, _VAR.reset, _IGNORE

        def kernel(x):
            token = set_state(ignore)
            try:
                return fn(x)
            finally:
                reset(token)
    elif arity == 2:
        set_state, reset, ignore = _VAR.set, _VAR.reset, _IGNORE

        def kernel(x, y):
            token = set_state(ignore)
            try:
                return fn(x, y)
            finally:
                reset(token)
    else:
        set_state, reset, ignore = _VAR.set, _VAR.reset, _IGNORE

        def kernel(*args, **attrs):
            token = set_state(ignore)
            try:
                return fn(*args, **attrs)
            finally:
                reset(token)

    kernel.__name__ = getattr(fn, "__name__", "kernel")
    kernel.__wrapped__ = fn
    return kernel


def silence(kernels: dict) -> None:
    """Wrap the kernels of :data:`SILENT` in ``kernels`` (a backend's table) in place."""
    for name in SILENT & kernels.keys():
        kernels[name] = silent(kernels[name], _ARITY.get(name))
