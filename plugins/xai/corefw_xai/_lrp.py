"""Layer-wise relevance propagation (Bach et al. 2015; zennit's rules and composites).

The backward pass carries relevance instead of gradients: it starts at ``F(x)`` of the target
and each op passes relevance to its operands by a rule attached to the op through the core's
scoped VJP override:

* ``matmul`` and ``conv2d`` (with a bias ``add`` right after a matmul folded into the layer):
  the layer rule -- :class:`Epsilon` (``epsilon=0`` is LRP-0), :class:`Gamma`, :class:`ZPlus`,
  :class:`AlphaBeta`, :class:`ZBox`, :class:`WSquare`, :class:`Flat`;
* ``max_pool2d`` and ``avg_pool2d``: a pooling rule -- :class:`WinnerTakesAll` (each window's
  relevance to its maximum; the default for max pooling) or :class:`Norm` (split in proportion
  to the window's inputs; the default for average pooling), as zennit;
* additions of two activations (residual connections), sums and means: split in proportion to
  the operands' values;
* elementwise activations, multiplication and division by constants, reshapes and indexing:
  passed through.

Captum's rule names are accepted: :class:`EpsilonRule`, :class:`GammaRule`,
:class:`Alpha1_Beta0_Rule` (Captum's bias handling) and :class:`IdentityRule`, given as
``rule=``, in a Composite, or as Captum's ``module.rule`` attribute.

A :class:`Composite` chooses the layer rule per module type or name (``node.module`` is
recorded by ``corefw.autograd.record_module_provenance``), per op name, and for the layer that
reads the input (``first``). ``merge_batchnorm`` is the canonizer that folds BatchNorm into the
layer before it. ``extras["layers"]`` lists the relevance entering and leaving each layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

import corefw
from corefw import Tensor
from corefw._call import apply
from corefw.autograd import record_module_provenance
from corefw.ops import OPS, get_op

from ._core import Attribution, Explanation, as_tuple, sum_per_example
from ._lrp_rules import (
    Alpha1_Beta0_Rule,
    AlphaBeta,
    Composite,
    Epsilon,
    EpsilonRule,
    Flat,
    Gamma,
    GammaRule,
    IdentityRule,
    Norm,
    Pass,
    Rule,
    WinnerTakesAll,
    WSquare,
    ZBox,
    ZPlus,
    _Layer,
    stabilize,
)
from ._rules import RESCALE_OPS, rule_scope
from ._targets import TargetSet

__all__ = ["LRP", "Alpha1_Beta0_Rule", "AlphaBeta", "Composite", "Epsilon", "EpsilonRule",
           "Flat", "Gamma", "GammaRule", "IdentityRule", "Norm", "Pass", "WSquare",
           "WinnerTakesAll", "ZBox", "ZPlus", "merge_batchnorm"]



# -- the op rules -------------------------------------------------------------------------
class _Ctx:
    __slots__ = ("inputs", "attrs", "output")

    def __init__(self, inputs, attrs, output=None) -> None:
        self.inputs, self.attrs, self.output = inputs, attrs, output


class _State:
    """Per-attribution state shared by the op rules."""

    def __init__(self, composite: Composite, explainer: Attribution) -> None:
        self.composite = composite
        self.explainer = explainer
        self.bias: dict = {}
        self.layers: list[dict] = []
        self.memo: dict = {}

    def input_ids(self) -> set[int]:
        return {id(t) for t in getattr(self.explainer, "current_leaves", ())}

    def is_data(self, t) -> bool:
        """Whether ``t`` carries relevance: it depends on the explained inputs (parameters,
        buffers and tensors computed from them only, such as ``W.T`` or BatchNorm's scale, do
        not)."""
        if not isinstance(t, Tensor) or not t.requires_grad:
            return False
        ids = self.input_ids()
        if id(t) in ids:
            return True
        root = _node_of(t)
        if root is None:
            return False
        memo = self.memo
        stack = [root]
        while stack:
            node = stack[-1]
            if node in memo:
                stack.pop()
                continue
            found, pending = False, []
            for inp in node.inputs or ():
                if not isinstance(inp, Tensor) or not inp.requires_grad:
                    continue
                if id(inp) in ids:
                    found = True
                    break
                child = _node_of(inp)
                if child is None:
                    continue
                if child not in memo:
                    pending.append(child)
                elif memo[child]:
                    found = True
                    break
            if found or not pending:
                memo[node] = found
                stack.pop()
            else:
                stack.extend(pending)
        return memo[root]


def _node_of(t):
    node = t.grad_fn
    return getattr(node, "node", node) if node is not None and not hasattr(node, "op") else node


def _sum_to(t: Tensor, shape) -> Tensor:
    return t if tuple(t.shape) == tuple(shape) else corefw.sum_to(t, tuple(shape))


def _rows(t: Tensor) -> np.ndarray:
    t = t.detach()
    if t.ndim == 0:
        return t.reshape(1).cpu().numpy().astype(np.float64)
    return t.reshape(t.shape[0], -1).sum(1).cpu().numpy().astype(np.float64)


def _linear_rule(state: _State, name: str):
    op = get_op(name)
    orig = op.vjp

    def rule(ctx, r):
        ops = ctx.inputs
        data = [i for i in (0, 1) if state.is_data(ops[i])]
        if len(data) != 1:
            if name == "matmul" and len(data) == 2:  # a bilinear product: half to each
                s = r / stabilize(ctx.output, 0.0)
                g = orig(ctx, s)
                return tuple(0.5 * ops[i] * g[i] for i in (0, 1))
            return orig(ctx, r)
        di = data[0]
        attrs = ctx.attrs or {}
        extra = ops[2:]

        def forward(x, w):
            operands = (x, w) if di == 0 else (w, x)
            return apply(op, operands + tuple(None for _ in extra), attrs) if extra else \
                apply(op, operands, attrs or None)

        def back(x, w, s):
            xx = x.detach().requires_grad_()
            operands = (xx, w.detach()) if di == 0 else (w.detach(), xx)
            return orig(_Ctx(operands + tuple(None for _ in extra), attrs), s)[di]

        bias = state.bias.pop(ctx, None)
        if name == "conv2d" and len(ops) > 2 and ops[2] is not None:
            bias = ops[2].reshape(1, -1, 1, 1)
        layer = _Layer(forward, back, ops[di].detach(), ops[1 - di].detach(), bias)
        first = id(ops[di]) in state.input_ids()
        rule_obj = state.composite.rule_for(ctx.module, name, first)
        rel = rule_obj.relevance(layer, r)
        state.layers.append({"op": name, "module": state.composite._names.get(id(ctx.module)),
                             "rule": repr(rule_obj), "relevance_out": _rows(r),
                             "relevance_in": _rows(rel)})
        out = [None] * len(ops)
        out[di] = rel
        return tuple(out)

    return rule


def _add_rule(state: _State, sign: float):
    def rule(ctx, r):
        a, b = ctx.inputs
        z = ctx.output
        da, db = state.is_data(a), state.is_data(b)
        if da != db:
            i = 0 if da else 1
            data, const = (a, b) if da else (b, a)
            node = data.grad_fn
            if node is not None and node.op.name == "matmul" and (i == 0 or sign > 0) and \
                    tuple(data.shape) == tuple(z.shape):
                c = const if isinstance(const, Tensor) else corefw.full(
                    (), float(const), dtype=z.dtype, device=z.device)
                state.bias[node] = c.detach() * sign
                out = [None, None]
                out[i] = r
                return tuple(out)
        s = r / stabilize(z, 0.0)
        out = []
        for k, t in enumerate((a, b)):
            if isinstance(t, Tensor) and t.requires_grad:
                coef = sign if k == 1 else 1.0
                out.append(_sum_to(coef * t * s, t.shape))
            else:
                out.append(None)
        return tuple(out)
    return rule


def _proportional_rule(state: _State, name: str):
    orig = get_op(name).vjp

    def rule(ctx, r):
        x = ctx.inputs[0]
        g = orig(ctx, r / stabilize(ctx.output, 0.0))
        return (x * g[0],) + tuple(g[1:])
    return rule


def _scale_rule(state: _State, name: str):
    """mul / div: relevance goes to the data operand (half each if both carry it)."""
    orig = get_op(name).vjp

    def rule(ctx, r):
        a, b = ctx.inputs
        da, db = state.is_data(a), state.is_data(b)
        if name == "div" and da:
            return (_sum_to(r, a.shape), None)
        if da and db:
            return (_sum_to(0.5 * r, a.shape), _sum_to(0.5 * r, b.shape))
        if da or db:
            t = a if da else b
            out = [None, None]
            out[0 if da else 1] = _sum_to(r, t.shape)
            return tuple(out)
        return orig(ctx, r)
    return rule


def _pass_rule(state: _State, name: str):
    orig = get_op(name).vjp

    def rule(ctx, r):
        x = ctx.inputs[0]
        if isinstance(x, Tensor) and tuple(x.shape) == tuple(r.shape):
            out = [None] * len(ctx.inputs)
            out[0] = r
            return tuple(out)
        return orig(ctx, r)
    return rule


def _binary_pass_rule(state: _State, name: str):
    orig = get_op(name).vjp

    def rule(ctx, r):
        a, b = ctx.inputs
        da, db = state.is_data(a), state.is_data(b)
        if da != db:
            t = a if da else b
            out = [None, None]
            out[0 if da else 1] = _sum_to(r, t.shape)
            return tuple(out)
        return orig(ctx, r)
    return rule


class _Pool:
    """One pooling op seen by a pooling rule (windows of ``max_pool2d`` or ``avg_pool2d``)."""

    def __init__(self, op_name: str, x: Tensor, attrs: dict) -> None:
        self.x, self.attrs = x.detach(), dict(attrs or {})
        if op_name == "max_pool2d":
            if tuple(self.attrs.get("dilation", (1, 1))) != (1, 1):
                raise ValueError("LRP: pooling rules need max_pool2d without dilation")
            self.max_attrs = self.attrs
        else:
            self.max_attrs = {"kernel_size": self.attrs["kernel_size"],
                              "stride": self.attrs["stride"], "padding": self.attrs["padding"],
                              "dilation": (1, 1), "ceil_mode": self.attrs["ceil_mode"]}
        # window sums: average pooling with divisor 1 over the same windows
        self.sum_attrs = {"kernel_size": self.max_attrs["kernel_size"],
                          "stride": self.max_attrs["stride"],
                          "padding": self.max_attrs["padding"],
                          "ceil_mode": self.max_attrs["ceil_mode"], "count_include_pad": True,
                          "divisor_override": 1}

    def route_max(self, r: Tensor) -> Tensor:
        out = apply(get_op("max_pool2d"), (self.x,), self.max_attrs)
        return apply(get_op("max_pool2d_grad_input"), (self.x, out, r), self.max_attrs)

    def share(self, r: Tensor) -> Tensor:
        op = get_op("avg_pool2d")
        z = apply(op, (self.x,), self.sum_attrs)
        return self.x * op.vjp(_Ctx((self.x,), self.sum_attrs, z), r / stabilize(z, 0.0))[0]


def _pool_rule(state: _State, name: str):
    def rule(ctx, r):
        rule_obj = state.composite.pool_rule_for(ctx.module, name)
        rel = rule_obj.pool_relevance(_Pool(name, ctx.inputs[0], ctx.attrs), r)
        state.layers.append({"op": name, "module": state.composite._names.get(id(ctx.module)),
                             "rule": repr(rule_obj), "relevance_out": _rows(r),
                             "relevance_in": _rows(rel)})
        return (rel,)
    return rule


def lrp_rules(state: _State) -> dict[str, Callable]:
    """The op -> rule table of one LRP run."""
    rules: dict[str, Callable] = {}
    for name in ("matmul", "conv2d"):
        if name in OPS:
            rules[name] = _linear_rule(state, name)
    rules["add"] = _add_rule(state, 1.0)
    rules["sub"] = _add_rule(state, -1.0)
    if "sum" in OPS:
        rules["sum"] = _proportional_rule(state, "sum")
    for name in ("max_pool2d", "avg_pool2d"):
        if name in OPS:
            rules[name] = _pool_rule(state, name)
    rules["mul"] = _scale_rule(state, "mul")
    rules["div"] = _scale_rule(state, "div")
    for name in RESCALE_OPS + ("neg", "abs", "sign"):
        if name in OPS and get_op(name).vjp is not None:
            rules[name] = _pass_rule(state, name)
    for name in ("maximum", "minimum"):
        rules[name] = _binary_pass_rule(state, name)
    return rules


# -- the explainer --------------------------------------------------------------------------
class LRP(Attribution):
    """Layer-wise relevance propagation; ``LRP(model, rule=Epsilon(1e-9))`` (Captum's default
    rule) or ``LRP(model, composite=Composite(...))``.

    The relevance at the target starts at ``F(x)``; ``delta = sum(phi) - F(x)`` is the relevance
    absorbed by biases and stabilisers (zero for LRP-0 on bias-free ReLU networks). LRP-0 on a
    ReLU network equals gradient x input.
    """

    name = "lrp"

    def __init__(self, model, rule: Rule | None = None, composite: Composite | None = None
                 ) -> None:
        super().__init__(model)
        if rule is not None and composite is not None:
            raise ValueError("LRP: give rule= or composite=, not both")
        self.composite = composite or Composite(default=rule or Epsilon(1e-9))

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  return_convergence_delta: bool = True, verbose: bool = False, *,
                  targets=None) -> Explanation:
        """Relevance of every input feature for the target(s)."""
        self.start()
        xs, is_tuple = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        args = additional_forward_args
        args = () if args is None else (tuple(args) if isinstance(args, tuple) else (args,))
        with self.scope() as state:
            grads, vals = self.gradients(xs, np.arange(batch), args, ts,
                                         grad_scale=lambda v, k: v.detach())
        per_input = [corefw.stack([g[i] for g in grads], 0) for i in range(len(xs))]
        delta = sum_per_example(per_input) - vals
        return self.result(per_input, is_tuple, ts, delta=delta,
                           params={"composite": repr(self.composite.layer_map),
                                   "default": repr(self.composite.default)},
                           extras={"layers": state.layers})


    @contextlib.contextmanager
    def scope(self):
        """The canonizers, module provenance and op rules of one LRP run around its forward
        and backward passes; yields the run's state (``state.layers``). Left, rules removed,
        also after an exception."""
        self.composite.bind(self.model)
        state = _State(self.composite, self)
        with contextlib.ExitStack() as stack:
            for canon in self.composite.canonizers:
                stack.enter_context(canon(self.model))
            stack.enter_context(record_module_provenance())
            stack.enter_context(rule_scope(lrp_rules(state)))
            yield state


# -- canonizer -----------------------------------------------------------------------------
def _is_bn(m) -> bool:
    return all(hasattr(m, a) for a in ("running_mean", "running_var", "eps", "weight"))


def _is_affine_layer(m) -> bool:
    w = getattr(m, "weight", None)
    return isinstance(w, Tensor) and w.ndim >= 2 and not _is_bn(m)


@contextlib.contextmanager
def merge_batchnorm(model):
    """Canonizer: fold every BatchNorm that directly follows a Linear or Conv layer inside a
    ``Sequential`` into that layer (weights and bias rescaled, the BatchNorm made the
    identity) for the duration of the block; the model's outputs do not change. Restored on
    exit, also after an exception."""
    pairs = []
    for mod in model.modules() if hasattr(model, "modules") else ():
        children = list(mod.children()) if type(mod).__name__ == "Sequential" else []
        for a, b in zip(children, children[1:]):
            if _is_affine_layer(a) and _is_bn(b) and b.running_mean is not None:
                pairs.append((a, b))
    saved = []
    try:
        with corefw.no_grad():
            for layer, bn in pairs:
                keep = {"w": layer.weight.detach().clone(),
                        "b": None if layer.bias is None else layer.bias.detach().clone(),
                        "bn": {k: getattr(bn, k).detach().clone() for k in
                               ("running_mean", "running_var", "weight", "bias")
                               if getattr(bn, k, None) is not None}}
                saved.append((layer, bn, keep))
                scale = (bn.weight if bn.weight is not None else 1.0) / \
                    (bn.running_var + bn.eps).sqrt()
                shift = (bn.bias if bn.bias is not None else 0.0) - bn.running_mean * scale
                shape = (-1,) + (1,) * (layer.weight.ndim - 1)
                layer.weight.copy_(layer.weight * scale.reshape(shape))
                bias = layer.bias if layer.bias is not None else 0.0
                if layer.bias is None:
                    raise ValueError(f"merge_batchnorm: {type(layer).__name__} before "
                                     f"{type(bn).__name__} has no bias to absorb the shift; "
                                     f"create it with bias=True")
                layer.bias.copy_(bias * scale + shift)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
                if bn.weight is not None:
                    bn.weight.fill_(1.0)
                if getattr(bn, "bias", None) is not None:
                    bn.bias.zero_()
        yield model
    finally:
        with corefw.no_grad():
            for layer, bn, keep in reversed(saved):
                layer.weight.copy_(keep["w"])
                if keep["b"] is not None:
                    layer.bias.copy_(keep["b"])
                for k, v in keep["bn"].items():
                    getattr(bn, k).copy_(v)
