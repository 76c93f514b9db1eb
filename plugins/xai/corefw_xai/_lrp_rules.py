"""LRP rules (zennit's): how a linear layer passes relevance to its input, and the Composite
that chooses a rule per layer. The op-level machinery is in :mod:`corefw_xai._lrp`."""

from __future__ import annotations

import corefw
from corefw import Tensor

__all__ = ["Alpha1_Beta0_Rule", "AlphaBeta", "Composite", "Epsilon", "EpsilonRule", "Flat",
           "Gamma", "GammaRule", "IdentityRule", "Norm", "Pass", "PoolRule", "Rule", "WSquare",
           "WinnerTakesAll", "ZBox", "ZPlus", "stabilize"]

_STAB = 1e-12


def stabilize(z: Tensor, eps: float) -> Tensor:
    """``z + eps * sign(z)`` with sign(0) = 1, never zero for eps > 0."""
    if eps:
        return corefw.where(z >= 0, z + eps, z - eps)
    return corefw.where(z == 0, _STAB, z)


class _Layer:
    """One linear op seen by a rule: ``forward(x, w)`` (bias excluded), ``back(x, w, s)`` =
    the VJP w.r.t. the data operand, ``bias`` (broadcastable to the output) or None."""

    def __init__(self, forward, back, x, w, bias) -> None:
        self.forward, self.back, self.x, self.w, self.bias = forward, back, x, w, bias

    def z(self, x, w, bias=None):
        out = self.forward(x, w)
        return out if bias is None else out + bias


# -- rules --------------------------------------------------------------------------------
class Rule:
    """A layer rule: ``relevance(layer, R) -> relevance of the layer's data operand``."""

    def relevance(self, layer: _Layer, r: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Epsilon(Rule):
    """``R_i = sum_j x_i w_ij / (z_j + eps sign(z_j)) R_j``; ``epsilon=0`` is LRP-0."""

    def __init__(self, epsilon: float = 1e-6) -> None:
        self.epsilon = float(epsilon)

    def relevance(self, layer, r):
        z = layer.z(layer.x, layer.w, layer.bias)
        return layer.x * layer.back(layer.x, layer.w, r / stabilize(z, self.epsilon))


class Gamma(Rule):
    """Weights and bias ``p + gamma * max(p, 0)``: favours positive contributions."""

    def __init__(self, gamma: float = 0.25, epsilon: float = 1e-6) -> None:
        self.gamma, self.epsilon = float(gamma), float(epsilon)

    def relevance(self, layer, r):
        w = layer.w + self.gamma * layer.w.clamp(min=0.0)
        b = None if layer.bias is None else layer.bias + self.gamma * layer.bias.clamp(min=0.0)
        z = layer.z(layer.x, w, b)
        return layer.x * layer.back(layer.x, w, r / stabilize(z, self.epsilon))


def _signed(layer, w_for_pos, w_for_neg, s):
    xp, xn = layer.x.clamp(min=0.0), layer.x.clamp(max=0.0)
    return xp * layer.back(xp, w_for_pos, s) + xn * layer.back(xn, w_for_neg, s)


class ZPlus(Rule):
    """Only positive contributions ``x+ w+ + x- w-`` (no bias); conserves relevance."""

    def __init__(self, epsilon: float = 1e-6) -> None:
        self.epsilon = float(epsilon)

    def relevance(self, layer, r):
        wp, wn = layer.w.clamp(min=0.0), layer.w.clamp(max=0.0)
        xp, xn = layer.x.clamp(min=0.0), layer.x.clamp(max=0.0)
        z = layer.forward(xp, wp) + layer.forward(xn, wn)
        return _signed(layer, wp, wn, r / stabilize(z, self.epsilon))


class AlphaBeta(Rule):
    """``alpha * positive share - beta * negative share`` (alpha - beta = 1 conserves)."""

    def __init__(self, alpha: float = 2.0, beta: float = 1.0, epsilon: float = 1e-6) -> None:
        if abs(alpha - beta - 1.0) > 1e-12:
            raise ValueError(f"AlphaBeta: alpha - beta must be 1, got alpha={alpha}, "
                             f"beta={beta}")
        self.alpha, self.beta, self.epsilon = float(alpha), float(beta), float(epsilon)

    def relevance(self, layer, r):
        wp, wn = layer.w.clamp(min=0.0), layer.w.clamp(max=0.0)
        xp, xn = layer.x.clamp(min=0.0), layer.x.clamp(max=0.0)
        zp = layer.forward(xp, wp) + layer.forward(xn, wn)
        zn = layer.forward(xp, wn) + layer.forward(xn, wp)
        pos = _signed(layer, wp, wn, r / stabilize(zp, self.epsilon))
        neg = _signed(layer, wn, wp, r / stabilize(zn, self.epsilon))
        return self.alpha * pos - self.beta * neg


class ZBox(Rule):
    """z^B for bounded inputs ``low <= x <= high`` (the first layer of image models)."""

    def __init__(self, low, high, epsilon: float = 1e-6) -> None:
        self.low, self.high, self.epsilon = low, high, float(epsilon)

    def relevance(self, layer, r):
        x = layer.x
        lo = corefw.zeros_like(x) + self.low
        hi = corefw.zeros_like(x) + self.high
        wp, wn = layer.w.clamp(min=0.0), layer.w.clamp(max=0.0)
        z = layer.z(x, layer.w, layer.bias) - layer.forward(lo, wp) - layer.forward(hi, wn)
        s = r / stabilize(z, self.epsilon)
        return x * layer.back(x, layer.w, s) - lo * layer.back(lo, wp, s) - \
            hi * layer.back(hi, wn, s)


class WSquare(Rule):
    """``R_i = sum_j w_ij^2 / sum_i w_ij^2 R_j`` (input-independent)."""

    def __init__(self, epsilon: float = 1e-6) -> None:
        self.epsilon = float(epsilon)

    def relevance(self, layer, r):
        one, w2 = corefw.ones_like(layer.x), layer.w * layer.w
        return layer.back(one, w2, r / stabilize(layer.forward(one, w2), self.epsilon))


class Flat(Rule):
    """Relevance spread evenly over each output's receptive field."""

    def __init__(self, epsilon: float = 1e-6) -> None:
        self.epsilon = float(epsilon)

    def relevance(self, layer, r):
        one, w1 = corefw.ones_like(layer.x), corefw.ones_like(layer.w)
        return layer.back(one, w1, r / stabilize(layer.forward(one, w1), self.epsilon))


class Pass(Rule):
    """Relevance passes unchanged (for ops whose output has the data operand's shape)."""

    def relevance(self, layer, r):
        return r


# -- Captum's rule names ---------------------------------------------------------------------
class EpsilonRule(Epsilon):
    """Captum's ``EpsilonRule(epsilon=1e-9)``: :class:`Epsilon` with Captum's default."""

    def __init__(self, epsilon: float = 1e-9) -> None:
        super().__init__(epsilon)


class GammaRule(Rule):
    """Captum's ``GammaRule(gamma=0.25, set_bias_to_zero=False)``: weights
    ``w + gamma * max(w, 0)`` with the bias left as it is (zero with ``set_bias_to_zero``);
    zennit's :class:`Gamma` raises the bias as well."""

    def __init__(self, gamma: float = 0.25, set_bias_to_zero: bool = False) -> None:
        self.gamma, self.set_bias_to_zero = float(gamma), bool(set_bias_to_zero)

    def relevance(self, layer, r):
        w = layer.w + self.gamma * layer.w.clamp(min=0.0)
        z = layer.z(layer.x, w, None if self.set_bias_to_zero else layer.bias)
        return layer.x * layer.back(layer.x, w, r / stabilize(z, 1e-9))


class Alpha1_Beta0_Rule(Rule):  # noqa: N801 - Captum's name
    """Captum's ``Alpha1_Beta0_Rule(set_bias_to_zero=False)``: the positive weights only,
    ``z = x w+ + b`` (the bias kept unless ``set_bias_to_zero``). On non-negative inputs
    without bias it equals zennit's :class:`ZPlus`, which drops the bias and pairs negative
    inputs with negative weights."""

    def __init__(self, set_bias_to_zero: bool = False) -> None:
        self.set_bias_to_zero = bool(set_bias_to_zero)

    def relevance(self, layer, r):
        wp = layer.w.clamp(min=0.0)
        z = layer.z(layer.x, wp, None if self.set_bias_to_zero else layer.bias)
        return layer.x * layer.back(layer.x, wp, r / stabilize(z, 1e-9))


class IdentityRule(Pass):
    """Captum's ``IdentityRule``: relevance passes unchanged (:class:`Pass`)."""


# -- pooling rules ---------------------------------------------------------------------------
class PoolRule(Rule):
    """A rule for ``max_pool2d`` / ``avg_pool2d``: ``pool_relevance(pool, R)`` where ``pool``
    gives the op's input ``x`` and ``route_max(R)`` (each window's R to its maximum) and
    ``share(R)`` (each window's R split in proportion to its inputs)."""

    def pool_relevance(self, pool, r):
        raise NotImplementedError

    def relevance(self, layer, r):
        raise TypeError(f"{type(self).__name__} is a pooling rule; use it for MaxPool2d / "
                        f"AvgPool2d (or 'max_pool2d' / 'avg_pool2d') in a Composite")


class WinnerTakesAll(PoolRule):
    """Each window's relevance goes to its (first) maximum: the gradient of max pooling, the
    default for ``max_pool2d`` (zennit, Captum); conserves relevance exactly."""

    def pool_relevance(self, pool, r):
        return pool.route_max(r)


class Norm(PoolRule):
    """zennit's ``Norm``: each window's relevance is split in proportion to its inputs,
    ``R_i = sum_j x_i R_j / sum_(k in window j) x_k``; the default for ``avg_pool2d``."""

    def pool_relevance(self, pool, r):
        return pool.share(r)


class Composite:
    """Which rule each layer gets: by module name, module type, op name (``"matmul"``,
    ``"conv2d"``), then ``first`` for the layer that reads an input, then ``default``.

    ``canonizers`` (context-manager factories taking the model, e.g. :func:`merge_batchnorm`)
    run around the attribution.
    """

    def __init__(self, layer_map: dict | None = None, first: Rule | None = None,
                 default: Rule | None = None, canonizers=()) -> None:
        self.layer_map = dict(layer_map or {})
        self.first = first
        self.default = default or Epsilon(1e-9)
        self.canonizers = tuple(canonizers)
        self._names: dict[int, str] = {}

    def bind(self, model) -> None:
        named = getattr(model, "named_modules", None)
        self._names = {id(m): n for n, m in named()} if callable(named) else {}

    def rule_for(self, module, op_name: str, is_first: bool) -> Rule:
        if module is not None:
            name = self._names.get(id(module))
            if name is not None and name in self.layer_map:
                return self.layer_map[name]
            if isinstance(getattr(module, "rule", None), Rule):  # Captum's ``module.rule``
                return module.rule
        if is_first and self.first is not None:
            return self.first
        if module is not None:
            for key, rule in self.layer_map.items():
                if isinstance(key, type) and isinstance(module, key):
                    return rule
        return self.layer_map.get(op_name, self.default)

    def pool_rule_for(self, module, op_name: str) -> PoolRule:
        """The pooling rule of ``max_pool2d`` / ``avg_pool2d`` (a non-pooling rule mapped there
        means the default: WinnerTakesAll for max, Norm for average pooling)."""
        rule = self.rule_for(module, op_name, False)
        if isinstance(rule, PoolRule):
            return rule
        return WinnerTakesAll() if op_name == "max_pool2d" else Norm()

    @classmethod
    def epsilon_plus(cls, epsilon: float = 1e-6, canonizers=()) -> Composite:
        """zennit's EpsilonPlus: ZPlus on convolutions, Epsilon on dense layers."""
        return cls({"conv2d": ZPlus(), "matmul": Epsilon(epsilon)}, canonizers=canonizers)

    @classmethod
    def epsilon_gamma_box(cls, low, high, epsilon: float = 1e-6, gamma: float = 0.25,
                          canonizers=()) -> Composite:
        """zennit's EpsilonGammaBox: ZBox on the first layer, Gamma on convolutions, Epsilon
        on dense layers."""
        return cls({"conv2d": Gamma(gamma), "matmul": Epsilon(epsilon)},
                   first=ZBox(low, high), canonizers=canonizers)

    @classmethod
    def epsilon_alpha2_beta1(cls, epsilon: float = 1e-6, canonizers=()) -> Composite:
        """zennit's EpsilonAlpha2Beta1: AlphaBeta(2, 1) on convolutions, Epsilon on dense."""
        return cls({"conv2d": AlphaBeta(2.0, 1.0), "matmul": Epsilon(epsilon)},
                   canonizers=canonizers)
