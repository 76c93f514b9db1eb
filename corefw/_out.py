"""PyTorch's ``out=`` keyword for the public functions whose torch counterpart has it.

``corefw.add(a, b, out=o)`` computes the result as ``corefw.add(a, b)`` would, then writes it
into ``o`` as PyTorch does:

* ``out`` must be on the result's device (:class:`~corefw.errors.DeviceError`);
* the result's dtype must be castable to ``out``'s by PyTorch's ``can_cast`` rule: a floating
  result never goes into an integer or bool ``out``, a non-bool one never into a bool ``out``
  (:class:`~corefw.errors.DTypeError`, "result type float32 can't be cast to the desired
  output type int64");
* an ``out`` of another shape is resized (with PyTorch's deprecation warning when it held
  elements), else written in place; its version counter is bumped either way;
* under grad mode, when an input or ``out`` requires grad it raises
  :class:`~corefw.errors.AutogradError` ("functions with out=... arguments don't support
  automatic differentiation");
* it returns ``out`` (a tuple of tensors for ops with several results, such as
  ``max(x, dim, out=(values, indices))``, as the op's named tuple).

Only the functions in the ``corefw`` namespace get the keyword (:func:`install`, run last by
``corefw/__init__.py``): Tensor methods and operators call the ops layer's functions through
:data:`~corefw._registry.FN`, which keeps the plain functions, so ``a + b`` and ``a.add(b)``
do not pass through here. The public function is a wrapper with the op's own signature plus
``out=None``, generated once per function (one extra Python call when ``out`` is None).

Which functions: :data:`TORCH_OUT_FUNCTIONS`, read from PyTorch 2.13's signatures by
``benchmarks/torch_out_functions.py`` and committed as data in ``corefw/_out_functions.txt``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from pathlib import Path

from . import _dtype
from ._registry import FN
from ._tensor import Tensor
from .autograd import is_grad_enabled, no_grad
from .errors import AutogradError, DeviceError, DTypeError, ShapeError

__all__ = ["INSTALLED", "TORCH_OUT_FUNCTIONS", "can_cast", "install", "with_out", "write_out"]


def _read_list() -> frozenset[str]:
    path = Path(__file__).with_name("_out_functions.txt")
    names = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return frozenset(n for n in names if n)


#: ``torch.*`` functions that take ``out=`` in PyTorch 2.13 (the committed list).
TORCH_OUT_FUNCTIONS: frozenset[str] = _read_list()
#: The ``corefw`` functions that got ``out=`` (filled by :func:`install`).
INSTALLED: list[str] = []


def can_cast(src: _dtype.dtype, dst: _dtype.dtype) -> bool:
    """PyTorch's ``torch.can_cast``: no float into integer or bool, no non-bool into bool."""
    if src.is_floating_point and not dst.is_floating_point:
        return False
    return not (dst is _dtype.bool_ and src is not _dtype.bool_)


def _check_out(name: str, result, out) -> None:
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if out._dev is not result._dev and out._dev != result._dev:
        raise DeviceError(f"{name}(): expected out tensor to have device {result._dev}, but "
                          f"got {out._dev} instead; allocate out on {result._dev}")
    src, dst = result.dtype, out.dtype
    if src is not dst and not can_cast(src, dst):
        raise DTypeError(f"{name}(): result type {src.name} can't be cast to the desired "
                         f"output type {dst.name} (out=); give out of dtype {src.name}")


def _write(name: str, result: Tensor, out: Tensor) -> None:
    shape = result.shape
    if out.shape != shape:
        if getattr(out, "_base", None) is not None:
            raise ShapeError(f"{name}(): out= is a view of shape {tuple(out.shape)} and the "
                             f"result has shape {tuple(shape)}; a view cannot be resized, "
                             f"pass a tensor of the result's shape")
        if out.numel():
            warnings.warn(
                f"{name}(): an output with one or more elements was resized since it had "
                f"shape {tuple(out.shape)}, which does not match the required output shape "
                f"{tuple(shape)}. This behavior is deprecated (as in PyTorch); pass an out of "
                f"the result's shape or of zero elements", UserWarning, stacklevel=4)
        fresh = FN.clone(FN.cast(result, out.dtype))
        FN.check_inplace(out, name)
        out._data = fresh._data  # resize: out now holds storage of the result's shape
        FN.bump_version(out)
    else:
        FN.copy_(out, result)


def write_out(name: str, result, out):
    """Write ``result`` (a tensor or a tuple of them) into ``out``; returns ``out`` (the
    op's named tuple of them for several results). See the module docstring."""
    if isinstance(result, Tensor):
        if isinstance(out, (tuple, list)):
            raise TypeError(f"{name}(): argument 'out' must be Tensor, not "
                            f"{type(out).__name__} ({name} has one result)")
        pairs = ((result, out),)
    else:
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{name}(): out= must be a tuple of {len(result)} tensors (one "
                            f"per result), got {type(out).__name__}")
        pairs = tuple(zip(result, out))
    for res, o in pairs:
        _check_out(name, res, o)
    if is_grad_enabled() and any(res._req or o._req for res, o in pairs):
        raise AutogradError(f"{name}(): functions with out=... arguments don't support "
                            f"automatic differentiation, but one of the arguments requires "
                            f"grad; call it without out= or under corefw.no_grad()")
    with no_grad():
        for res, o in pairs:
            _write(name, res, o)
    if isinstance(result, Tensor):
        return out
    return type(result)(*out) if hasattr(result, "_fields") else tuple(out)


def _parameters(sig: inspect.Signature) -> tuple[str, str]:
    """The wrapper's parameter list (defaults bound as ``_d<i>``) and its call of the op."""
    params, call, star = [], [], False
    for i, p in enumerate(sig.parameters.values()):
        default = "" if p.default is p.empty else f"=_d{i}"
        if p.kind is p.POSITIONAL_ONLY:
            params.append(f"{p.name}{default}")
            call.append(p.name)
        elif p.kind is p.POSITIONAL_OR_KEYWORD:
            params.append(f"{p.name}{default}")
            call.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            params.append(f"*{p.name}")
            call.append(f"*{p.name}")
            star = True
        elif p.kind is p.KEYWORD_ONLY:
            if not star:
                params.append("*")
                star = True
            params.append(f"{p.name}{default}")
            call.append(f"{p.name}={p.name}")
        else:  # VAR_KEYWORD comes last
            continue
    if any(p.kind is p.POSITIONAL_ONLY for p in sig.parameters.values()):
        last = max(i for i, p in enumerate(sig.parameters.values())
                   if p.kind is p.POSITIONAL_ONLY)
        params.insert(last + 1, "/")
    if not star:
        params.append("*")
    params.append("out=None")
    kw = [p for p in sig.parameters.values() if p.kind is p.VAR_KEYWORD]
    if kw:
        params.append(f"**{kw[0].name}")
        call.append(f"**{kw[0].name}")
    return ", ".join(params), ", ".join(call)


def with_out(fn: Callable, name: str | None = None) -> Callable:
    """``fn`` with PyTorch's ``out=`` keyword added (see the module docstring): a wrapper
    with ``fn``'s own signature, so a call without ``out`` costs one Python call more. A
    function that already takes ``out`` is called without it, and the rules here apply."""
    name = name or fn.__name__
    sig = inspect.signature(fn)
    # a function with an ``out`` of its own (a plain copy) is called without it: these rules
    # replace its handling
    sig = sig.replace(parameters=[p for p in sig.parameters.values() if p.name != "out"])
    params, call = _parameters(sig)
    scope = {f"_d{i}": p.default for i, p in enumerate(sig.parameters.values())}
    scope.update(_fn=fn, _write_out=write_out, _name=name)
    # a factory (zeros, arange, randn ...) makes its result in out's dtype and device
    factory = "".join(f"    if {p} is None:\n        {p} = getattr(out, {p!r}, None)\n"
                      for p in ("dtype", "device")
                      if p in sig.parameters and sig.parameters[p].default is None)
    if len(factory.splitlines()) < 4:
        factory = ""
    src = (f"def _wrapper({params}):\n"
           f"    if out is None:\n"
           f"        return _fn({call})\n"
           f"{factory}"
           f"    return _write_out(_name, _fn({call}), out)\n")
    exec(compile(src, f"<corefw out= wrapper of {name}>", "exec"), scope)  # noqa: S102
    wrapper = scope["_wrapper"]
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    wrapper.__module__ = fn.__module__
    wrapper.__qualname__ = fn.__qualname__
    wrapper.__wrapped__ = fn
    out_param = inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None)
    ps = list(sig.parameters.values())
    at = next((i for i, p in enumerate(ps) if p.kind is p.VAR_KEYWORD), len(ps))
    wrapper.__signature__ = sig.replace(parameters=ps[:at] + [out_param] + ps[at:])
    return wrapper


def install(namespace: dict) -> list[str]:
    """Give the functions of ``namespace`` (the ``corefw`` module's) that PyTorch gives
    ``out=`` the keyword; one wrapper per function object, so aliases stay one object.
    Returns the names wrapped."""
    done: dict[int, Callable] = {}
    wrapped = []
    for name in sorted(TORCH_OUT_FUNCTIONS):
        fn = namespace.get(name)
        if not inspect.isfunction(fn):
            continue
        if id(fn) not in done:
            done[id(fn)] = with_out(fn, name)
        namespace[name] = done[id(fn)]
        wrapped.append(name)
    INSTALLED[:] = wrapped
    return wrapped
