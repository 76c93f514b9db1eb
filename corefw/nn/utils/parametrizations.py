"""``weight_norm`` and ``spectral_norm`` as parametrizations (PyTorch's
``torch.nn.utils.parametrizations``), with PyTorch's state-dict keys:
``parametrizations.weight.original0`` (g) / ``original1`` (v) for weight norm,
``parametrizations.weight.original`` and ``parametrizations.weight.0._u`` / ``._v`` for
spectral norm."""

from __future__ import annotations

from typing import Any

import corefw

from .. import functional as F
from ..module import Module
from . import parametrize

__all__ = ["spectral_norm", "weight_norm"]


def norm_except_dim(v: Any, dim: int) -> Any:
    """The 2-norm of ``v`` over every dimension but ``dim`` (keeping dims); over the whole
    tensor (a 0-d result) when ``dim == -1``, as ``torch.norm_except_dim``."""
    if dim == -1:
        return v.norm()
    dims = tuple(d for d in range(v.dim()) if d != dim)
    return v.norm(2, dim=dims, keepdim=True)


class _WeightNorm(Module):
    """``weight = g * v / ||v||`` with the norm over every dimension but ``dim``."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Any, weight_v: Any) -> Any:
        return weight_v * (weight_g / norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight: Any) -> tuple[Any, Any]:
        return norm_except_dim(weight, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalization (Salimans & Kingma, 2016): ``module.<name>`` becomes
    ``g * v / ||v||``, trained through ``g`` (``original0``) and ``v`` (``original1``).

    Args:
        module: the module to change (returned).
        name: the parameter to reparametrize.
        dim: the dimension kept by the norm (output channels: 0); ``None`` normalizes over
            the whole tensor.
    """
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    """``weight / sigma``, sigma estimated by power iteration on the weight reshaped to a
    matrix with ``dim`` first (buffers ``_u``, ``_v`` persist the singular vectors)."""

    def __init__(self, weight: Any, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.dim()
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            mat = self._reshape_weight_to_matrix(weight)
            h, w = mat.shape
            u = corefw.randn(h, dtype=mat.dtype, device=mat.device)
            v = corefw.randn(w, dtype=mat.dtype, device=mat.device)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=eps))
            self._power_method(mat, 15)

    def _reshape_weight_to_matrix(self, weight: Any) -> Any:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.dim()) if d != self.dim))
        return weight.reshape(weight.shape[0], -1)

    def _power_method(self, weight_mat: Any, n_power_iterations: int) -> None:
        with corefw.no_grad():
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(corefw.mv(weight_mat, self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(corefw.mv(weight_mat.t(), self._u), dim=0,
                                          eps=self.eps))

    def forward(self, weight: Any) -> Any:
        if weight.dim() == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = corefw.dot(u, corefw.mv(mat, v))
        return weight / sigma

    def right_inverse(self, value: Any) -> Any:
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Spectral normalization (Miyato et al., 2018): ``module.<name>`` becomes
    ``weight / sigma(weight)``, sigma the largest singular value estimated by
    ``n_power_iterations`` power iterations per forward pass in training mode.

    Args:
        module: the module to change (returned).
        name: the parameter to normalize.
        n_power_iterations: power iterations per call in training mode.
        eps: numerical floor of the vectors' norms.
        dim: the output-channel dimension (default 1 for transposed convolutions, else 0).
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, corefw.Tensor):
        raise ValueError(f"Module '{type(module).__name__}' has no parameter or buffer with "
                         f"name '{name}'")
    if dim is None:
        dim = 1 if "ConvTranspose" in type(module).__name__ else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
