"""The hook-based ``weight_norm`` and ``spectral_norm`` of PyTorch's ``torch.nn.utils`` (older
API than :mod:`corefw.nn.utils.parametrizations`, with its own state-dict keys:
``weight_g``/``weight_v``, and ``weight_orig``/``weight_u``/``weight_v``). A forward pre-hook
recomputes ``module.weight`` before each call."""

from __future__ import annotations

from typing import Any

import corefw

from .. import functional as F
from ..module import Module
from ..parameter import Parameter
from .parametrizations import norm_except_dim

__all__ = ["remove_spectral_norm", "remove_weight_norm", "spectral_norm", "weight_norm"]


class _HookNorm:
    """A forward pre-hook that sets ``module.<name>`` from its stored parts."""

    name: str

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))

    def compute_weight(self, module: Module) -> Any:
        raise NotImplementedError


def _hooks(module: Module) -> dict[str, tuple[Any, Any]]:
    return module.__dict__.setdefault("_corefw_norm_hooks", {})


def _attach(module: Module, fn: _HookNorm, kind: str) -> None:
    if (kind, fn.name) in _hooks(module):
        raise RuntimeError(f"Cannot register two {kind} hooks on the same parameter {fn.name}")
    handle = module.register_forward_pre_hook(fn)
    _hooks(module)[(kind, fn.name)] = (fn, handle)


def _detach(module: Module, name: str, kind: str) -> _HookNorm:
    entry = _hooks(module).pop((kind, name), None)
    if entry is None:
        raise ValueError(f"{kind} of '{name}' not found in {type(module).__name__}")
    entry[1].remove()
    return entry[0]


class _WeightNormHook(_HookNorm):
    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def compute_weight(self, module: Module) -> Any:
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / norm_except_dim(v, self.dim))


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalization with PyTorch's hook API: parameters ``<name>_g`` and
    ``<name>_v`` replace ``<name>``, which is recomputed as ``g * v / ||v||`` before each
    forward. ``dim=None`` normalizes over the whole tensor."""
    fn = _WeightNormHook(name, -1 if dim is None else dim)
    weight = getattr(module, name)
    del module._parameters[name]
    module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, fn.dim).detach()))
    module.register_parameter(name + "_v", Parameter(weight.detach()))
    setattr(module, name, fn.compute_weight(module))
    _attach(module, fn, "weight_norm")
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo :func:`weight_norm`: ``<name>`` is a plain parameter again (its current value)."""
    fn = _detach(module, name, "weight_norm")
    with corefw.no_grad():
        weight = fn.compute_weight(module).detach()
    delattr(module, name)
    del module._parameters[name + "_g"], module._parameters[name + "_v"]
    module.register_parameter(name, Parameter(weight))
    return module


class _SpectralNormHook(_HookNorm):
    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float) -> None:
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.name, self.n_power_iterations, self.dim, self.eps = \
            name, n_power_iterations, dim, eps

    def matrix(self, weight: Any) -> Any:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.dim()) if d != self.dim))
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module: Module) -> Any:
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        mat = self.matrix(weight)
        if module.training:
            with corefw.no_grad():
                for _ in range(self.n_power_iterations):
                    v.copy_(F.normalize(corefw.mv(mat.t(), u), dim=0, eps=self.eps))
                    u.copy_(F.normalize(corefw.mv(mat, v), dim=0, eps=self.eps))
            u, v = u.clone(), v.clone()
        return weight / corefw.dot(u, corefw.mv(mat, v))


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Spectral normalization with PyTorch's hook API: parameter ``<name>_orig`` and buffers
    ``<name>_u``, ``<name>_v`` (the power-iteration vectors); ``<name>`` is recomputed as
    ``orig / sigma`` before each forward (one power step per call while training)."""
    if dim is None:
        dim = 1 if "ConvTranspose" in type(module).__name__ else 0
    fn = _SpectralNormHook(name, n_power_iterations, dim, eps)
    weight = module._parameters[name]
    with corefw.no_grad():
        h, w = fn.matrix(weight).shape
        kw = {"dtype": weight.dtype, "device": weight.device}
        u = F.normalize(corefw.randn(h, **kw), dim=0, eps=eps)
        v = F.normalize(corefw.randn(w, **kw), dim=0, eps=eps)
    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    setattr(module, name, weight.detach())
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    _attach(module, fn, "spectral_norm")
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo :func:`spectral_norm`: ``<name>`` is a plain parameter again (its current
    normalized value)."""
    fn = _detach(module, name, "spectral_norm")
    training = module.training
    module.training = False  # no power step while reading the value
    with corefw.no_grad():
        weight = fn.compute_weight(module).detach()
    module.training = training
    delattr(module, name)
    del module._parameters[name + "_orig"]
    del module._buffers[name + "_u"], module._buffers[name + "_v"]
    module.register_parameter(name, Parameter(weight))
    return module
