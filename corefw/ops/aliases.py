"""PyTorch's other names for existing ops (``multiply``, ``greater``, ``absolute`` ...) and
small functions written with existing ops: ``addcmul``, ``rsub``, ``ravel``, ``dist``,
``cov``, ``corrcoef``, ``diagflat``, ``block_diag``, ``trapezoid``, ``vander``, ``logspace``,
``matrix_power``, ``logdet``, ``renorm``, ``fill_diagonal_`` and a few in-place forms. They
differentiate through the ops they use."""

from __future__ import annotations

from .. import _dtype
from .._registry import FN
from ..errors import ShapeError
from . import elementwise as ew
from . import linalg_torch as _la
from .inplace import _inplace
from .registry import publish

__all__ = [
    "absolute", "addcdiv", "addcmul", "block_diag", "chain_matmul", "corrcoef", "cov",
    "cumulative_trapezoid", "det", "diagflat", "divide", "dist", "greater", "greater_equal",
    "inverse", "less", "less_equal", "logdet", "logspace", "matrix_power", "multiply",
    "negative", "not_equal", "ravel", "renorm", "rsub", "subtract", "trapezoid", "true_divide",
    "vander",
]
METHODS_ONLY = ["clamp_max_", "clamp_min_", "fill_diagonal_", "frac_", "index_put_",
                "is_complex", "ndimension", "square_", "tril_", "triu_", "trunc_"]


# PyTorch's other names: the very same functions, not wrappers
absolute, multiply, subtract, divide, true_divide = ew.abs, ew.mul, ew.sub, ew.div, ew.div
greater, greater_equal, less, less_equal = ew.gt, ew.ge, ew.lt, ew.le
not_equal, negative = ew.ne, ew.neg


def rsub(input, other, *, alpha=1):
    """``other - alpha * input``."""
    return other - (input if alpha == 1 else input * alpha)


def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2``."""
    return input + value * tensor1 * tensor2


def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2``."""
    return input + value * tensor1 / tensor2


def ravel(input):
    return FN.reshape(input, (-1,))


def dist(input, other, p: float = 2):
    """The ``p``-norm of ``input - other``."""
    return FN.norm(input - other, p)


def inverse(input):
    return _la.inv(input)


def det(input):
    return _la.det(input)


def logdet(input):
    """``log(det(input))``: NaN for a negative determinant, -inf for a singular matrix."""
    sign, logabs = _la.slogdet(input)
    return FN.where(sign < 0, float("nan"), FN.where(sign == 0, -float("inf"), logabs))


def matrix_power(input, n: int):
    """``input`` multiplied by itself ``n`` times (``n < 0``: the inverse's power, 0: I)."""
    if input.ndim < 2 or input.shape[-1] != input.shape[-2]:
        raise ShapeError(f"matrix_power: expected square matrices, got shape "
                         f"{tuple(input.shape)}")
    if n < 0:
        return matrix_power(inverse(input), -n)
    out = None
    base = input
    while n:
        if n & 1:
            out = base if out is None else FN.matmul(out, base)
        n >>= 1
        if n:
            base = FN.matmul(base, base)
    if out is None:
        eye = FN.eye(input.shape[-1], dtype=input.dtype, device=input.device)
        return FN.expand(eye, tuple(input.shape)).clone()
    return out


def chain_matmul(*matrices):
    out = matrices[0]
    for m in matrices[1:]:
        out = FN.matmul(out, m)
    return out


def cov(input, *, correction: int = 1, fweights=None, aweights=None):
    """Covariance of the variables in the rows of ``input`` (observations in columns)."""
    x = input if input.ndim == 2 else FN.reshape(input, (1, -1))
    if not x.dtype.is_floating_point:
        x = FN.cast(x, _dtype.get_default_dtype())
    w = None
    if fweights is not None:
        w = FN.cast(fweights, x.dtype)
    if aweights is not None:
        w = aweights if w is None else w * aweights
    if w is None:
        n = x.shape[1]
        mean = FN.mean(x, 1, keepdim=True)
        xc = x - mean
        out = FN.matmul(xc, FN.transpose(xc, 0, 1)) / max(n - correction, 0)
    else:
        wsum = FN.sum(w)
        mean = FN.sum(x * w, 1, keepdim=True) / wsum
        xc = x - mean
        if correction == 0:
            norm = wsum
        elif aweights is None:
            norm = wsum - correction
        else:
            norm = wsum - correction * FN.sum(w * aweights) / wsum
        out = FN.matmul(xc * w, FN.transpose(xc, 0, 1)) / norm
    return FN.reshape(out, ()) if input.ndim < 2 else out


def corrcoef(input):
    """Pearson correlation coefficients of the rows, clipped to [-1, 1]."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = FN.sqrt(FN.diagonal(c))
    return FN.clamp(c / FN.unsqueeze(d, 1) / FN.unsqueeze(d, 0), -1, 1)


def diagflat(input, offset: int = 0):
    return FN.diag_embed(FN.reshape(input, (-1,)), offset)


def block_diag(*tensors):
    """The tensors (0-, 1- or 2-D) as blocks on the diagonal of one matrix."""
    mats = [FN.reshape(t, (1, -1)) if t.ndim < 2 else t for t in tensors]
    dtype = mats[0].dtype
    for m in mats[1:]:
        dtype = _dtype.promote_types(dtype, m.dtype)
    cols = sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        right = cols - left - m.shape[1]
        rows.append(FN.pad(FN.cast(m, dtype), (left, right)))
        left += m.shape[1]
    return FN.cat(rows, 0)


def _spacing(y, x, dx, dim):
    if x is not None:
        return FN.diff(x, dim=dim if x.ndim > 1 else -1)
    return 1.0 if dx is None else dx


def trapezoid(y, x=None, *, dx=None, dim: int = -1):
    """The trapezoidal rule along ``dim`` (sample points ``x`` or spacing ``dx``)."""
    n = y.shape[dim]
    avg = (FN.narrow(y, dim, 1, n - 1) + FN.narrow(y, dim, 0, n - 1)) / 2
    return FN.sum(avg * _spacing(y, x, dx, dim), dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim: int = -1):
    """The running trapezoidal integral along ``dim`` (one element shorter)."""
    n = y.shape[dim]
    avg = (FN.narrow(y, dim, 1, n - 1) + FN.narrow(y, dim, 0, n - 1)) / 2
    return FN.cumsum(avg * _spacing(y, x, dx, dim), dim)


def vander(x, N: int | None = None, increasing: bool = False):  # noqa: N803
    """Columns ``x ** (N-1) ... x ** 0`` (reversed with ``increasing``)."""
    n = x.shape[0] if N is None else N
    powers = FN.arange(n, device=x.device)
    if not increasing:
        powers = FN.flip(powers, (0,))
    base = x if x.dtype.is_floating_point or x.dtype == _dtype.bool_ else FN.cast(
        x, _dtype.int64)
    return FN.unsqueeze(base, 1) ** FN.unsqueeze(powers, 0)


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, device=None,
             requires_grad: bool = False):
    """``base ** linspace(start, end, steps)``."""
    exps = FN.linspace(start, end, steps, dtype=_dtype.float64, device=device)
    out = FN.cast(base ** exps, dtype or _dtype.get_default_dtype())
    return out.requires_grad_() if requires_grad else out


def renorm(input, p: float, dim: int, maxnorm: float):
    """Each slice along ``dim`` rescaled so its ``p``-norm is at most ``maxnorm``."""
    others = tuple(d for d in range(input.ndim) if d != dim % input.ndim)
    norms = FN.norm(input, p, others, keepdim=True)
    scale = FN.where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)
    return input * scale.detach()


# -- Tensor-only methods ----------------------------------------------------------------------
def ndimension(self) -> int:
    return self.ndim


def is_complex(self) -> bool:
    """corefw has no complex dtypes."""
    return False


def tensor_index_put(self, indices, values, accumulate: bool = False):
    """A copy with ``values`` written at ``self[indices]`` (``accumulate``: added);
    ``Tensor.index_put``."""
    return FN.index_put(self, tuple(indices), values, accumulate=accumulate)


def index_put_(self, indices, values, accumulate: bool = False):
    return _inplace(self, "index_put_", tensor_index_put, indices, values, accumulate)


def fill_diagonal_(self, fill_value, wrap: bool = False):
    """Write ``fill_value`` on the main diagonal (all dims equal, or a tall matrix)."""
    n = min(self.shape)
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise ShapeError(f"fill_diagonal_: all dimensions must be equal for a tensor of more "
                         f"than 2 dims, got {tuple(self.shape)}")
    idx = FN.arange(n, device=self.device)
    key = [idx] * self.ndim
    if wrap and self.ndim == 2 and self.shape[0] > self.shape[1] + 1:
        step = self.shape[1] + 1
        rows = FN.arange(0, self.shape[0], device=self.device)
        rows = rows[(rows % step) < self.shape[1]]
        key = [rows, rows % step]
    return _inplace(self, "fill_diagonal_", lambda x: FN.index_put(
        x, tuple(key), FN.full((), fill_value, dtype=x.dtype, device=x.device)))


def tril_(self, diagonal: int = 0):
    return _inplace(self, "tril_", FN.tril, diagonal)


def triu_(self, diagonal: int = 0):
    return _inplace(self, "triu_", FN.triu, diagonal)


def clamp_min_(self, min):  # noqa: A002
    return _inplace(self, "clamp_min_", FN.clamp, min=min)


def clamp_max_(self, max):  # noqa: A002
    return _inplace(self, "clamp_max_", FN.clamp, max=max)


def square_(self):
    return _inplace(self, "square_", lambda x: x * x)


def trunc_(self):
    return _inplace(self, "trunc_", FN.trunc)


def frac_(self):
    return _inplace(self, "frac_", FN.frac)


_NOT_METHODS = ("block_diag", "chain_matmul", "logspace", "vander", "cumulative_trapezoid",
                "trapezoid", "negative", "true_divide")  # the last two: aliases already
publish(globals(), __all__ + METHODS_ONLY + ["tensor_index_put"], methods=" ".join(
    [n for n in __all__ if n not in _NOT_METHODS] + METHODS_ONLY),
    aliases={"index_put": "tensor_index_put"})
