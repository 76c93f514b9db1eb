"""Lookups by index: ``embedding`` and ``one_hot``."""

from __future__ import annotations

from ... import _dtype
from ..._creation import arange
from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ...compiler import is_compiling
from ...errors import CorefwIndexError, DTypeError, ShapeError
from ...ops.nn_misc import embedding_op
from ...ops.reduction import norm
from ...ops.shape import reshape

__all__ = ["embedding", "one_hot"]


def _check_indices(fn: str, input, n: int) -> None:
    if not isinstance(input, Tensor) or input.dtype.np.kind not in ("i", "u"):
        what = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise DTypeError(f"{fn}: expected indices of an integer dtype (int64 or int32), got "
                         f"{what}; cast with .long()")
    if input.numel() and not input.is_meta and not is_compiling():
        lo, hi = int(input.amin().item()), int(input.amax().item())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise CorefwIndexError(f"{fn}: index {bad} is out of range for a table of {n} "
                                   f"rows (valid: 0..{n - 1})")


def _padding_idx(padding_idx: int | None, n: int) -> int | None:
    if padding_idx is None:
        return None
    if not -n <= padding_idx < n:
        raise ValueError(f"embedding: padding_idx {padding_idx} must be within the "
                         f"{n} rows (-{n}..{n - 1})")
    return padding_idx % n


def _renorm_(weight, input, max_norm: float, norm_type: float) -> None:
    """Rescale, in place, the looked-up rows whose ``norm_type``-norm exceeds ``max_norm``."""
    with no_grad():
        idx = reshape(input, (-1,))
        rows = weight[idx]
        norms = norm(rows, norm_type, 1, keepdim=True)
        scale = (max_norm / (norms + 1e-7)).clamp(max=1.0)
        weight[idx] = rows * scale


def embedding(input, weight, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False):
    """Rows of ``weight`` (``(num_embeddings, embedding_dim)``) picked by integer ``input``.

    The result has shape ``input.shape + (embedding_dim,)``. ``padding_idx``: that row gets no
    gradient. ``max_norm``: rows looked up are first renormalised in place to at most that
    ``norm_type``-norm (as PyTorch). ``scale_grad_by_freq``: each row's gradient is divided by
    the number of times its index occurs in ``input``. ``sparse`` is accepted for
    compatibility; gradients are always dense.
    """
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be a 2-D (num_embeddings, embedding_dim) "
                         f"tensor, got {getattr(weight, 'shape', type(weight).__name__)}")
    n = weight.shape[0]
    _check_indices("embedding", input, n)
    pad = _padding_idx(padding_idx, n)
    if max_norm is not None:
        _renorm_(weight, input, float(max_norm), float(norm_type))
    return embedding_op(weight, input, pad, scale_grad_by_freq)


def one_hot(tensor, num_classes: int = -1):
    """int64 one-hot encoding: shape ``tensor.shape + (num_classes,)``.

    ``num_classes=-1`` uses ``tensor.max() + 1``.
    """
    if not isinstance(tensor, Tensor) or tensor.dtype.np.kind not in ("i", "u"):
        what = tensor.dtype if isinstance(tensor, Tensor) else type(tensor).__name__
        raise DTypeError(f"one_hot: expected an integer index tensor, got {what}")
    if num_classes == -1:
        if not tensor.numel():
            raise ShapeError("one_hot: cannot infer num_classes from an empty tensor; pass "
                             "num_classes")
        num_classes = int(tensor.amax().item()) + 1
    _check_indices("one_hot", tensor, num_classes)
    classes = arange(num_classes, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).to(_dtype.int64)
