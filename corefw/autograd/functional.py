"""``torch.autograd.functional``: Jacobians, Hessians and their products with vectors of a
function of tensors, built on :func:`corefw.autograd.grad` (reverse mode; a Jacobian-vector
product is the derivative of a vector-Jacobian product, the "double backward" trick)."""

from __future__ import annotations

from collections.abc import Callable

from .._graph.grad_mode import enable_grad
from .._registry import FN
from .run import grad

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


def _tuple(x) -> tuple[bool, tuple]:
    if isinstance(x, (tuple, list)):
        return True, tuple(x)
    return False, (x,)


def _prepare(inputs, create_graph: bool) -> tuple:
    """Inputs as leaves that require grad (detached copies, as PyTorch makes them)."""
    return tuple(x.detach().requires_grad_(True) if not (create_graph and x.requires_grad)
                 else x for x in inputs)


def _grads(outputs, inputs, grad_outputs, create_graph: bool, strict: bool, what: str):
    gs = grad(outputs, inputs, grad_outputs, retain_graph=True, create_graph=create_graph,
              allow_unused=True)
    out = []
    for i, (g, x) in enumerate(zip(gs, inputs)):
        if g is None:
            if strict:
                raise RuntimeError(f"{what}: output is independent of input {i} (strict=True)")
            g = FN.zeros_like(x)
        out.append(g if create_graph else g.detach())
    return tuple(out)


def _pack(is_tuple: bool, values: tuple):
    return values if is_tuple else values[0]


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), v^T J)``: the vector-Jacobian product (``v`` may be omitted for a
    function with a single-element output)."""
    is_tuple, xs = _tuple(inputs)
    xs = _prepare(xs, create_graph)
    with enable_grad():
        out = func(*xs)
        out_tuple, outs = _tuple(out)
        if v is None:
            if any(o.numel() != 1 for o in outs):
                raise RuntimeError("vjp: v can be omitted only for single-element outputs")
            vs = tuple(FN.ones_like(o) for o in outs)
        else:
            vs = _tuple(v)[1]
        g = _grads(outs, xs, vs, create_graph, strict, "vjp")
    outs = tuple(o if create_graph else o.detach() for o in outs)
    return _pack(out_tuple, outs), _pack(is_tuple, g)


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), J v)``: the Jacobian-vector product, as the derivative of the
    vector-Jacobian product ``u -> J^T u`` (which is linear in ``u``) along ``v``."""
    is_tuple, xs = _tuple(inputs)
    xs = _prepare(xs, create_graph)
    if v is None:
        if any(x.numel() != 1 for x in xs):
            raise RuntimeError("jvp: v can be omitted only for single-element inputs")
        vs = tuple(FN.ones_like(x) for x in xs)
    else:
        vs = _tuple(v)[1]
    with enable_grad():
        out = func(*xs)
        out_tuple, outs = _tuple(out)
        us = tuple(FN.zeros_like(o).requires_grad_(True) for o in outs)
        gu = grad(outs, xs, us, create_graph=True, allow_unused=True)
        pairs = [(g, w) for g, w in zip(gu, vs) if g is not None]
        if not pairs:
            jv = tuple(FN.zeros_like(o) for o in outs)
        else:
            jv = _grads([g for g, _ in pairs], us, [w for _, w in pairs], create_graph,
                        strict, "jvp")
    outs = tuple(o if create_graph else o.detach() for o in outs)
    return _pack(out_tuple, outs), _pack(out_tuple, jv)


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for one input and one output a tensor of shape
    ``out.shape + in.shape``; tuples of them nest as in PyTorch (``J[i][j]`` is output i
    by input j). Computed one output element at a time (reverse mode)."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got "
                         f"{strategy!r}")
    is_tuple, xs = _tuple(inputs)
    xs = _prepare(xs, create_graph)
    with enable_grad():
        out = func(*xs)
        out_tuple, outs = _tuple(out)
        rows = []
        for o in outs:
            flat = o.reshape(-1)
            per_input = [[] for _ in xs]
            for k in range(flat.shape[0]):
                gs = _grads((flat[k],), xs, None, create_graph, strict, "jacobian")
                for j, g in enumerate(gs):
                    per_input[j].append(g)
            jac = []
            for j, x in enumerate(xs):
                if per_input[j]:
                    jj = FN.stack(per_input[j]).reshape(tuple(o.shape) + tuple(x.shape))
                else:
                    jj = FN.zeros(tuple(o.shape) + tuple(x.shape), dtype=x.dtype)
                jac.append(jj)
            rows.append(_pack(is_tuple, tuple(jac)))
    return _pack(out_tuple, tuple(rows))


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar function: the Jacobian of its gradient."""
    is_tuple, xs = _tuple(inputs)

    def gradient(*args):
        with enable_grad():
            y = func(*args)
            if y.numel() != 1:
                raise RuntimeError(f"hessian: func must return a single-element tensor, got "
                                   f"shape {tuple(y.shape)}")
            gs = grad(y, args, create_graph=True, allow_unused=True)
        gs = tuple(FN.zeros_like(a) if g is None else g for g, a in zip(gs, args))
        return _pack(is_tuple, gs)

    return jacobian(gradient, _pack(is_tuple, xs), create_graph=create_graph, strict=strict)


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), v^T H)`` for a scalar ``func``."""
    is_tuple, xs = _tuple(inputs)
    xs = _prepare(xs, create_graph)
    vs = _tuple(v)[1] if v is not None else tuple(FN.ones_like(x) for x in xs)
    with enable_grad():
        y = func(*xs)
        gs = grad(y, xs, create_graph=True, allow_unused=True)
        pairs = [(g, w) for g, w in zip(gs, vs) if g is not None]
        dot = sum((g * w).sum() for g, w in pairs)
        out = _grads((dot,), xs, None, create_graph, strict, "vhp") if pairs else tuple(
            FN.zeros_like(x) for x in xs)
    return (y if create_graph else y.detach()), _pack(is_tuple, out)


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), H v)`` for a scalar ``func`` (equal to :func:`vhp` for the
    symmetric Hessians of twice continuously differentiable functions)."""
    return vhp(func, inputs, v, create_graph, strict)
