"""More normalisation layers and bag/bilinear layers, with PyTorch's names, arguments and
state_dict keys: ``BatchNorm3d``, ``InstanceNorm1d/2d/3d`` (``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked`` when enabled), ``RMSNorm``
(``weight``), ``LocalResponseNorm``, ``Bilinear`` (``weight``, ``bias``), ``EmbeddingBag``
(``weight``)."""

from __future__ import annotations

import math

import corefw

from ...errors import ShapeError
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from .normalization import _BatchNorm

__all__ = ["BatchNorm3d", "Bilinear", "CrossMapLRN2d", "EmbeddingBag", "InstanceNorm1d",
           "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm", "RMSNorm"]


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) inputs, per channel C; see
    :class:`~corefw.nn.BatchNorm1d`."""

    _ranks = (5,)


class _InstanceNorm(_BatchNorm):
    """Instance normalisation: ``affine`` and ``track_running_stats`` default to False."""

    _nd = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype)

    def forward(self, input):
        nd = self._nd
        if input.ndim not in (nd + 1, nd + 2):
            raise ShapeError(f"{type(self).__name__}: expected {nd + 1}D or {nd + 2}D input, "
                             f"got {input.ndim}D input of shape {tuple(input.shape)}")
        unbatched = input.ndim == nd + 1
        x = input.unsqueeze(0) if unbatched else input
        if x.shape[1] != self.num_features and self.affine:
            raise ShapeError(f"{type(self).__name__}: expected input's size at dim=1 to match "
                             f"num_features ({self.num_features}), but got: {x.shape[1]}")
        use_stats = self.training or not self.track_running_stats
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_stats, 0.0 if self.momentum is None else self.momentum,
                            self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L)."""

    _nd = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W)."""

    _nd = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W)."""

    _nd = 3


class RMSNorm(Module):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape`` dims;
    ``eps=None`` is the input dtype's machine epsilon."""

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(corefw.ones(self.normalized_shape, device=device,
                                                dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        """Weight to ones."""
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input):
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """Normalise each channel by its ``size`` neighbouring channels' squares (AlexNet)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75,
                 k: float = 1.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class CrossMapLRN2d(LocalResponseNorm):
    """PyTorch's legacy cross-channel LRN over (N, C, H, W): ``x * (k + alpha / size * S)^-beta``
    where, exactly as PyTorch's running-sum implementation, ``S`` for channel ``c`` sums the
    squares of channels 0 .. ``c + (size - 1) // 2`` minus those of 1 .. ``c - pre`` (``pre =
    (size - 1) // 2 + 1``; channel 0 is never dropped from the sum)."""

    def forward(self, input):
        if input.ndim != 4:
            raise ShapeError(f"CrossMapLRN2d: expected a 4-D input (N, C, H, W), got shape "
                             f"{tuple(input.shape)}")
        c = input.shape[1]
        pre = (self.size - 1) // 2 + 1
        sq = input * input
        total = corefw.cumsum(sq, 1)
        scales = []
        for ch in range(c):
            s = total[:, min(ch + pre - 1, c - 1)]
            if ch > pre:
                s = s - (total[:, ch - pre] - total[:, 0])
            scales.append(s)
        scale = corefw.stack(scales, 1) * (self.alpha / self.size) + self.k
        return input * scale.pow(-self.beta)


class Bilinear(Module):
    """``y = x1^T A x2 + b``: ``weight`` (out, in1, in2) and ``bias`` (out,) drawn from
    ``U(-1/sqrt(in1), 1/sqrt(in1))``, as PyTorch."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        self.weight = Parameter(corefw.empty(out_features, in1_features, in2_features,
                                             device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(corefw.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``U(-1/sqrt(in1_features), 1/sqrt(in1_features))`` for weight and bias."""
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings (:func:`~corefw.nn.functional.
    embedding_bag`); ``weight`` (num_embeddings, embedding_dim) drawn from N(0, 1), the
    ``padding_idx`` row zeroed."""

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight=None, include_last_offset: bool = False,
                 padding_idx: int | None = None, device=None, dtype=None) -> None:
        super().__init__()
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode has to be one of sum, mean or max, got "
                             f"{mode!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"EmbeddingBag: padding_idx {padding_idx} must be within "
                                 f"num_embeddings ({num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.mode, self.sparse = scale_grad_by_freq, mode, sparse
        self.include_last_offset, self.padding_idx = include_last_offset, padding_idx
        if _weight is None:
            self.weight = Parameter(corefw.empty(num_embeddings, embedding_dim, device=device,
                                                 dtype=dtype))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ShapeError(f"EmbeddingBag: shape of _weight {tuple(_weight.shape)} does "
                                 f"not match ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight)

    def reset_parameters(self) -> None:
        """N(0, 1), with the ``padding_idx`` row zeroed."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with corefw.no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                               self.scale_grad_by_freq, self.mode, self.sparse,
                               per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}"
