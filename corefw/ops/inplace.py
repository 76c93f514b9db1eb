"""In-place variants (``add_``, ``mul_``, ``copy_`` ...), as optimizers use them.

Under ``no_grad`` they write straight into the tensor's storage. While the graph is recorded,
the out-of-place result is computed with its node and written back, and the tensor takes that
node (PyTorch's rebase), so ``y = x * 2; y.add_(1)`` stays differentiable. A leaf that requires
grad cannot be changed in place outside ``no_grad``. Every call bumps the version counter, which
backward checks for tensors it saved.
"""

from __future__ import annotations

from .._graph.grad_mode import STATE, no_grad
from .._tensor import Tensor
from ..errors import AutogradError, DeviceError, DTypeError, ShapeError
from . import elementwise as ew
from ._views import commit, settle
from .indexing import bump_version, check_inplace
from .registry import declare, publish

__all__ = ["adam_step_", "add_", "addcdiv_", "addcmul_", "clamp_", "copy_", "div_", "fill_",
           "mul_", "sgd_step_", "sub_", "zero_"]


def _write(x: Tensor, new: Tensor, op: str, record: bool) -> Tensor:
    if tuple(new._data.shape) != tuple(x._data.shape):
        raise ShapeError(f"{op}: the result has shape {tuple(new._data.shape)}, which cannot "
                         f"be written into a tensor of shape {x.shape} in place")
    if new._data.dtype != x._data.dtype:
        if new.dtype.category > x.dtype.category:
            raise DTypeError(f"{op}: result type {new.dtype} can't be cast to the desired "
                             f"output type {x.dtype}")
        new = ew.cast(new, x.dtype)
    if new._dev is not x._dev:
        raise ShapeError(f"{op}: result on {new._dev} cannot be written to {x._dev}")
    commit(x, new, record, op)
    bump_version(x)
    return x


def _inplace(x: Tensor, op: str, fn, *args, **kwargs) -> Tensor:
    """``x = fn(x, *args, **kwargs)`` in place. While recording, ``fn`` runs on a clone of
    ``x`` (PyTorch saves the original self the same way), so a VJP that needs the old values
    (``mul_``, ``div_``, ``pow_`` ...) does not see them overwritten."""
    record = check_inplace(x, op, any(isinstance(a, Tensor) and a._req for a in args))
    if record:
        old = ew.clone(x)
        args = tuple(old if a is x else a for a in args)
        return _write(x, fn(old, *args, **kwargs), op, True)
    with no_grad():
        return _write(x, fn(x, *args, **kwargs), op, False)


def add_(x, other, *, alpha=1):
    return _inplace(x, "add_", ew.add, other, alpha=alpha)


def sub_(x, other, *, alpha=1):
    return _inplace(x, "sub_", ew.sub, other, alpha=alpha)


def mul_(x, other):
    return _inplace(x, "mul_", ew.mul, other)


def div_(x, other, *, rounding_mode=None):
    return _inplace(x, "div_", ew.div, other, rounding_mode=rounding_mode)


def pow_(x, exponent):
    return _inplace(x, "pow_", ew.pow, exponent)


def _addcmul(x, tensor1, tensor2, value):
    return x + tensor1 * tensor2 if ew.is_one(value) else x + value * tensor1 * tensor2


def _addcdiv(x, tensor1, tensor2, value):
    return x + tensor1 / tensor2 if ew.is_one(value) else x + value * tensor1 / tensor2


def addcmul_(x, tensor1, tensor2, *, value=1):
    """``x += value * tensor1 * tensor2``."""
    return _inplace(x, "addcmul_", _addcmul, tensor1, tensor2, value)


def addcdiv_(x, tensor1, tensor2, *, value=1):
    """``x += value * tensor1 / tensor2``."""
    return _inplace(x, "addcdiv_", _addcdiv, tensor1, tensor2, value)


def lerp_(x, end, weight):
    return _inplace(x, "lerp_", ew.lerp, end, weight)


def clamp_(x, min=None, max=None):  # noqa: A002
    return _inplace(x, "clamp_", ew.clamp, min, max)


def copy_(x, src, non_blocking: bool = False):
    """Copy ``src`` (broadcast, cast, moved from another device) into ``x``."""
    if not isinstance(src, Tensor):
        from .._creation import tensor

        src = tensor(src, dtype=x.dtype, device=x.device)
    if src._dev is not x._dev:
        src = src.to(x._dev, non_blocking=non_blocking)
    if src._data.dtype != x._data.dtype:
        src = ew.cast(src, x.dtype)
    if src.shape != x.shape:
        from .shape import expand

        src = expand(src, x.shape)
    return _inplace(x, "copy_", lambda _, s: ew.clone(s) if s._req else s, src)


def fill_(x, value):
    from .._creation import full

    if isinstance(value, Tensor):
        value = value.item()
    return _inplace(x, "fill_", lambda t: full(t.shape, value, dtype=t.dtype, device=t.device))


def zero_(x):
    return fill_(x, 0)


def _unary_inplace(name, fn):
    def method(x, *args, **kwargs):
        return _inplace(x, name, fn, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"In-place ``{fn.__name__}``."
    return method


UNARY_INPLACE = {f"{f.__name__}_": _unary_inplace(f"{f.__name__}_", f) for f in (
    ew.exp, ew.log, ew.sqrt, ew.tanh, ew.sigmoid, ew.relu, ew.neg, ew.abs, ew.floor, ew.ceil,
    ew.round, ew.sin, ew.cos, ew.reciprocal, ew.rsqrt, ew.sign)}


# -- fused optimizer updates -------------------------------------------------------------------
# One kernel call per parameter instead of a chain of in-place ops (each a kernel, a temporary
# and a version bump). The decompositions are the optimizers' step-by-step updates, written
# with the in-place ops above in the same order, so a backend without a kernel computes the
# same values; a kernel must match them (the cpu plugin's do, bit for bit). A decomposition
# returns every tensor it updated, and so does a kernel of a backend without "inplace" (new
# arrays): the core rebinds them (functionalization).
def _sgd_step_decomp(param, grad, momentum_buffer, *, lr, momentum, dampening, weight_decay,
                     nesterov, maximize, is_first_step):
    g = ew.neg(grad) if maximize else grad
    if weight_decay != 0:
        g = g + param * weight_decay
    if momentum != 0:
        buf = momentum_buffer
        if is_first_step:
            copy_(buf, g)
        else:
            add_(mul_(buf, momentum), g, alpha=1 - dampening)
        g = g + buf * momentum if nesterov else buf
    return add_(param, g, alpha=-lr), momentum_buffer


def _adam_step_decomp(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps,
                      weight_decay, decoupled, maximize, step):
    g = ew.neg(grad) if maximize else grad
    if weight_decay != 0:
        if decoupled:
            mul_(param, 1 - lr * weight_decay)
        else:
            g = g + param * weight_decay
    add_(mul_(exp_avg, beta1), g, alpha=1 - beta1)
    addcmul_(mul_(exp_avg_sq, beta2), g, g, value=1 - beta2)
    denom = add_(ew.sqrt(exp_avg_sq) / (1 - beta2**step) ** 0.5, eps)
    return addcdiv_(param, exp_avg, denom, value=-lr / (1 - beta1**step)), exp_avg, exp_avg_sq


_SGD_STEP = declare("sgd_step_", decomposition=_sgd_step_decomp, differentiable=False,
                    inplace=True, doc="in place: one SGD update of param (and momentum_buffer)")
_ADAM_STEP = declare("adam_step_", decomposition=_adam_step_decomp, differentiable=False,
                     inplace=True,
                     doc="in place: one Adam/AdamW update of param, exp_avg, exp_avg_sq")


def _rebind_fused(tensors: tuple, res) -> None:
    """A fused kernel on a backend that cannot write in place (or the decomposition, run on
    wrappers of the arrays) returns every updated value: rebind them to the tensors."""
    if not isinstance(res, tuple):
        return  # an in-place kernel
    for t, r in zip(tensors, res):
        if t is not None and r is not None:
            settle(t, r._data if isinstance(r, Tensor) else r)


def _check_fused(op: str, param: Tensor, *others: Tensor | None) -> list:
    """The native arrays of ``param`` and ``others``, which must match it in shape, dtype and
    device; refuses a param that autograd would have to record."""
    if param._req and STATE.enabled:
        raise AutogradError(f"{op}: the update of a tensor that requires grad is not "
                            f"differentiable; call it under corefw.no_grad() (as optimizers do)")
    pd = param._data
    arrays = [pd]
    for t in others:
        if t is None:
            arrays.append(None)
            continue
        td = t._data
        if t._dev is not param._dev:
            raise DeviceError(f"{op}: every tensor must be on the param's device {param._dev}, "
                              f"got one on {t._dev}; move it with .to({str(param._dev)!r})")
        if td.dtype != pd.dtype:
            raise DTypeError(f"{op}: expected tensors of the param's dtype {param.dtype}, got "
                             f"{t.dtype}; cast it with .to({param.dtype})")
        if td.shape != pd.shape:
            raise ShapeError(f"{op}: expected tensors of the param's shape {param.shape}, got "
                             f"{t.shape}")
        arrays.append(td)
    return arrays


def sgd_step_(param: Tensor, grad: Tensor, momentum_buffer: Tensor | None = None, *,
              lr: float, momentum: float = 0.0, dampening: float = 0.0,
              weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False,
              is_first_step: bool = False) -> Tensor:
    """One step of :class:`corefw.optim.SGD` on ``param``, in place; returns ``param``.

    ``momentum_buffer`` (needed when ``momentum != 0``) is updated in place too; on the
    first step (``is_first_step=True``) it is overwritten with the gradient (PyTorch's
    ``_fused_sgd_`` argument). All tensors share the param's shape, dtype and device.
    """
    if momentum != 0 and momentum_buffer is None:
        raise ValueError("sgd_step_: momentum != 0 needs a momentum_buffer like the param")
    arrays = _check_fused("sgd_step_", param, grad, momentum_buffer if momentum != 0 else None)
    kernel = param._dev.table["sgd_step_"]
    res = kernel(
        *arrays, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
        nesterov=nesterov, maximize=maximize, is_first_step=is_first_step)
    _rebind_fused((param, momentum_buffer), res)
    bump_version(param)
    if momentum != 0:
        bump_version(momentum_buffer)
    return param


def adam_step_(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, *,
               lr: float, beta1: float, beta2: float, eps: float, weight_decay: float = 0.0,
               decoupled: bool = False, maximize: bool = False, step: float) -> Tensor:
    """One step of :class:`corefw.optim.Adam` (``decoupled=True``: AdamW) on ``param`` at step
    number ``step`` (1, 2, ...), without AMSGrad, in place; ``exp_avg`` and ``exp_avg_sq`` are
    updated in place too. Returns ``param``. The signature of the cuda plugin's kernel."""
    arrays = _check_fused("adam_step_", param, grad, exp_avg, exp_avg_sq)
    kernel = param._dev.table["adam_step_"]
    res = kernel(
        *arrays, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
        decoupled=decoupled, maximize=maximize, step=step)
    _rebind_fused((param, exp_avg, exp_avg_sq), res)
    bump_version(param)
    bump_version(exp_avg)
    bump_version(exp_avg_sq)
    return param


publish(globals(), __all__ + ["lerp_", "pow_"], methods=" ".join(__all__) + " lerp_ pow_")
for _name, _fn in UNARY_INPLACE.items():
    globals()[_name] = _fn
publish(globals(), list(UNARY_INPLACE), methods=" ".join(UNARY_INPLACE))
