"""Finite-difference checks of analytic gradients (float64), as ``torch.autograd.gradcheck``."""

from __future__ import annotations

import numpy as np

from ..errors import AutogradError

__all__ = ["gradcheck", "gradgradcheck"]


def _tensors(inputs):
    from .._tensor import Tensor

    return (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)


def _flat_outputs(fn, inputs):
    from .._tensor import Tensor

    out = fn(*inputs)
    outs = (out,) if isinstance(out, Tensor) else tuple(out)
    return [o for o in outs if isinstance(o, Tensor) and o.is_floating_point()]


def _numerical(fn, inputs, idx, eps):
    from .._creation import tensor

    x = inputs[idx]
    base = np.array(np.asarray(x.detach()), dtype=np.float64)
    n_out = [o.numel() for o in _flat_outputs(fn, inputs)]
    jac = [np.zeros((base.size, n)) for n in n_out]
    flat = base.reshape(-1)
    for k in range(flat.size):
        vals = []
        for sign in (1, -1):
            pert = flat.copy()
            pert[k] += sign * eps
            xs = list(inputs)
            # the perturbed input requires grad like the original: fn may itself call
            # autograd (gradgradcheck differentiates a first derivative)
            xs[idx] = tensor(pert.reshape(base.shape), dtype=x.dtype, device=x.device,
                             requires_grad=x.requires_grad)
            vals.append([np.asarray(o.detach(), dtype=np.float64).reshape(-1)
                         for o in _flat_outputs(fn, xs)])
        for j in range(len(n_out)):
            jac[j][k] = (vals[0][j] - vals[1][j]) / (2 * eps)
    return jac


def _analytic(fn, inputs, idx):
    from .._creation import zeros_like
    from .run import grad

    outs = _flat_outputs(fn, inputs)
    x = inputs[idx]
    jac = []
    for o in outs:
        rows = np.zeros((x.numel(), o.numel()))
        for j in range(o.numel()):
            g = zeros_like(o)
            flat = np.zeros(o.numel())
            flat[j] = 1.0
            from .._creation import tensor

            g = tensor(flat.reshape(o.shape), dtype=o.dtype, device=o.device)
            if not o.requires_grad:
                continue
            (gx,) = grad(o, x, g, retain_graph=True, allow_unused=True)
            if gx is not None:
                rows[:, j] = np.asarray(gx.detach(), dtype=np.float64).reshape(-1)
        jac.append(rows)
    return jac


def gradcheck(fn, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, **_ignored) -> bool:
    """Compare autograd's gradients of ``fn(*inputs)`` with central differences.

    Inputs that require grad should be float64. Returns True, or raises
    :class:`~corefw.errors.AutogradError` naming the input and the largest difference.
    """
    inputs = _tensors(inputs)
    for idx, x in enumerate(inputs):
        if not getattr(x, "requires_grad", False):
            continue
        if x.dtype.name != "float64":
            import warnings

            warnings.warn(f"gradcheck: input {idx} is {x.dtype}, not float64; the check may "
                          f"fail from rounding alone", stacklevel=2)
        num = _numerical(fn, inputs, idx, eps)
        ana = _analytic(fn, inputs, idx)
        for j, (n, a) in enumerate(zip(num, ana)):
            if not np.allclose(a, n, atol=atol, rtol=rtol):
                err = np.abs(a - n).max()
                if raise_exception:
                    raise AutogradError(
                        f"gradcheck: Jacobian mismatch for output {j} with respect to input "
                        f"{idx}: max abs difference {err:.3g} (atol {atol}, rtol {rtol})\n"
                        f"numerical:\n{n}\nanalytical:\n{a}")
                return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, **_ignored) -> bool:
    """gradcheck of the first derivative: checks second derivatives (``create_graph``)."""
    from .._creation import tensor
    from .run import grad

    inputs = _tensors(inputs)
    diff = [i for i, x in enumerate(inputs) if getattr(x, "requires_grad", False)]
    outs = _flat_outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device,
                               requires_grad=True) for o in outs]

    def first_derivative(*args):
        xs = args[:len(inputs)]
        gos = args[len(inputs):]
        out = _flat_outputs(fn, xs)
        gs = grad(out, [xs[i] for i in diff], list(gos), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    try:
        return gradcheck(first_derivative, tuple(inputs) + tuple(grad_outputs), eps=eps,
                         atol=atol, rtol=rtol, raise_exception=True)
    except AutogradError as exc:
        if raise_exception:
            raise AutogradError(f"gradgradcheck failed: {exc}") from None
        return False
