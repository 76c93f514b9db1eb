"""Peer op cases: reductions (``dim=``, ``axis=``, ``keepdim=``/``keepdims=``, tuples of dims,
negative dims), scans, statistics, sorting and selection, written as PyTorch code."""

from __future__ import annotations

import numpy as np

import corefw as torch

from .harness import case

X = [(3, 4, 5)]


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


case("sum", X, lambda x: x.sum(), np.sum)
case("sum dim", X, lambda x: torch.sum(x, dim=1), lambda x: x.sum(1))
case("sum keepdim", X, lambda x: x.sum(dim=-1, keepdim=True), lambda x: x.sum(-1, keepdims=True))
case("sum axis", X, lambda x: x.sum(axis=1), lambda x: x.sum(1))
case("sum axis keepdims", X, lambda x: torch.sum(x, axis=0, keepdims=True),
     lambda x: x.sum(0, keepdims=True))
case("sum dims tuple", X, lambda x: x.sum(dim=(0, 2)), lambda x: x.sum((0, 2)))
case("sum dtype", [(3, 4)], lambda x: torch.sum(x, dtype=torch.float64),
     lambda x: np.sum(x), out_dtype="float64")
case("sum int", [(3, 4)], lambda x: x.sum(), np.sum, dtype="int32", low=0, high=9,
     out_dtype="int64")
case("mean", X, lambda x: torch.mean(x), np.mean)
case("mean dim", X, lambda x: x.mean(dim=2), lambda x: x.mean(2))
case("mean axis keepdims", X, lambda x: x.mean(axis=(1, 2), keepdims=True),
     lambda x: x.mean((1, 2), keepdims=True))
case("mean dim None", X, lambda x: torch.mean(x, dim=None), np.mean)
case("prod", [(3, 4)], lambda x: torch.prod(x), np.prod, low=0.5, high=1.5)
case("prod dim", X, lambda x: x.prod(dim=1), lambda x: x.prod(1), low=0.5, high=1.5)
case("prod keepdim", X, lambda x: torch.prod(x, 2, keepdim=True),
     lambda x: x.prod(2, keepdims=True), low=0.5, high=1.5)
case("max", X, lambda x: x.max(), np.max)
case("max dim values", X, lambda x: torch.max(x, dim=1).values, lambda x: x.max(1))
case("max dim indices", X, lambda x: torch.max(x, 1)[1], lambda x: x.argmax(1))
case("max dim keepdim", X, lambda x: x.max(dim=0, keepdim=True)[0],
     lambda x: x.max(0, keepdims=True))
case("min", X, lambda x: torch.min(x), np.min)
case("min dim", X, lambda x: x.min(dim=-1).values, lambda x: x.min(-1))
case("max binary", [(3, 4), (3, 4)], lambda x, y: torch.max(x, y), np.maximum)
case("amax", X, lambda x: torch.amax(x, dim=(0, 1)), lambda x: x.max((0, 1)))
case("amin", X, lambda x: x.amin(dim=1, keepdim=True), lambda x: x.min(1, keepdims=True))
case("argmax", X, lambda x: torch.argmax(x), lambda x: np.argmax(x))
case("argmax dim", X, lambda x: x.argmax(dim=1), lambda x: x.argmax(1))
case("argmax keepdim", X, lambda x: torch.argmax(x, dim=2, keepdim=True),
     lambda x: x.argmax(2)[..., None])
case("argmin axis", X, lambda x: x.argmin(axis=0), lambda x: x.argmin(0))
case("aminmax", X, lambda x: tuple(torch.aminmax(x, dim=1)), lambda x: (x.min(1), x.max(1)))
case("std", X, lambda x: x.std(), lambda x: x.std(ddof=1))
case("std dim", X, lambda x: torch.std(x, dim=1), lambda x: x.std(1, ddof=1))
case("std correction 0", X, lambda x: torch.std(x, dim=2, correction=0), lambda x: x.std(2))
case("std unbiased False", X, lambda x: x.std(1, unbiased=False), lambda x: x.std(1))
case("var", X, lambda x: torch.var(x), lambda x: x.var(ddof=1))
case("var keepdim", X, lambda x: x.var(dim=(0, 2), keepdim=True),
     lambda x: x.var((0, 2), ddof=1, keepdims=True))
case("var_mean", X, lambda x: tuple(torch.var_mean(x, dim=1)),
     lambda x: (x.var(1, ddof=1), x.mean(1)))
case("std_mean", X, lambda x: tuple(torch.std_mean(x, dim=0, correction=0)),
     lambda x: (x.std(0), x.mean(0)))
case("logsumexp", X, lambda x: torch.logsumexp(x, dim=1),
     lambda x: np.log(np.exp(x).sum(1)))
case("logsumexp keepdim", X, lambda x: x.logsumexp(-1, keepdim=True),
     lambda x: np.log(np.exp(x).sum(-1, keepdims=True)))
case("norm", X, lambda x: x.norm(), lambda x: np.sqrt((x * x).sum()))
case("norm p=1 dim", X, lambda x: torch.norm(x, p=1, dim=1), lambda x: np.abs(x).sum(1))
case("cumsum", X, lambda x: torch.cumsum(x, dim=1), lambda x: np.cumsum(x, 1))
case("cumsum negative dim", X, lambda x: x.cumsum(-1), lambda x: np.cumsum(x, -1))
case("cumprod", X, lambda x: torch.cumprod(x, dim=2), lambda x: np.cumprod(x, 2), low=0.5,
     high=1.5)
case("cummax", X, lambda x: torch.cummax(x, dim=1).values, lambda x: np.maximum.accumulate(
    x, 1))
case("cummin", X, lambda x: x.cummin(0)[0], lambda x: np.minimum.accumulate(x, 0))
case("logcumsumexp", X, lambda x: torch.logcumsumexp(x, dim=1),
     lambda x: np.log(np.cumsum(np.exp(x), 1)))
case("all", [(3, 4)], lambda x: torch.all(x), np.all, dtype="bool")
case("all dim", [(3, 4)], lambda x: x.all(dim=1), lambda x: x.all(1), dtype="bool")
case("any", [(3, 4)], lambda x: x.any(), np.any, dtype="bool")
case("any dim keepdim", [(3, 4)], lambda x: torch.any(x, dim=0, keepdim=True),
     lambda x: x.any(0, keepdims=True), dtype="bool")
case("count_nonzero", [(3, 4)], lambda x: torch.count_nonzero(x, dim=1),
     lambda x: np.count_nonzero(x, 1), dtype="int64", low=0, high=3)
case("nansum", None, lambda x: torch.nansum(x), np.nansum,
     vals=[[1.0, float("nan"), 2.5]], grad=())
case("nanmean", None, lambda x: x.nanmean(), np.nanmean, vals=[[1.0, float("nan"), 2.5]],
     grad=())
case("median", [(3, 7)], lambda x: torch.median(x, dim=1).values, lambda x: np.median(x, 1))
case("median all", [(9,)], lambda x: x.median(), np.median)
case("quantile", [(3, 8)], lambda x: torch.quantile(x, 0.3, dim=1),
     lambda x: np.quantile(x, 0.3, axis=1))
case("mode", None, lambda x: torch.mode(x, dim=1).values, lambda x: np.array([2, 5]),
     vals=[[[1, 2, 2, 3], [5, 5, 4, 1]]], dtype="int64")
case("softmax", X, lambda x: torch.softmax(x, dim=1), lambda x: _softmax(x, 1))
case("softmax method", X, lambda x: x.softmax(-1), lambda x: _softmax(x, -1))
case("log_softmax", X, lambda x: torch.log_softmax(x, dim=2),
     lambda x: np.log(_softmax(x, 2)))

# -- sorting and selection --------------------------------------------------------------------
case("sort", [(4, 6)], lambda x: torch.sort(x, dim=1).values, lambda x: np.sort(x, 1))
case("sort descending", [(4, 6)], lambda x: x.sort(descending=True)[0],
     lambda x: -np.sort(-x, -1))
case("sort indices", [(4, 6)], lambda x: torch.sort(x, 0)[1], lambda x: np.argsort(x, 0))
case("argsort", [(4, 6)], lambda x: torch.argsort(x, dim=1), lambda x: np.argsort(x, 1))
case("argsort descending", [(4, 6)], lambda x: x.argsort(descending=True),
     lambda x: np.argsort(-x, -1))
case("msort", [(4, 6)], lambda x: torch.msort(x), lambda x: np.sort(x, 0))
case("topk", [(4, 6)], lambda x: torch.topk(x, 3).values, lambda x: -np.sort(-x, 1)[:, :3])
case("topk smallest", [(4, 6)], lambda x: x.topk(2, dim=0, largest=False)[0],
     lambda x: np.sort(x, 0)[:2])
case("topk indices", [(4, 6)], lambda x: torch.topk(x, 2, dim=1).indices,
     lambda x: np.argsort(-x, 1)[:, :2])
case("kthvalue", [(4, 6)], lambda x: torch.kthvalue(x, 2, dim=1).values,
     lambda x: np.sort(x, 1)[:, 1])
case("searchsorted", None, lambda s, v: torch.searchsorted(s, v),
     lambda s, v: np.searchsorted(s, v), vals=[[1.0, 3.0, 5.0, 7.0], [0.0, 3.0, 6.0, 9.0]])
case("searchsorted right", None, lambda s, v: torch.searchsorted(s, v, right=True),
     lambda s, v: np.searchsorted(s, v, side="right"),
     vals=[[1.0, 3.0, 5.0, 7.0], [0.0, 3.0, 6.0, 9.0]])
case("bucketize", None, lambda v, b: torch.bucketize(v, b),
     lambda v, b: np.searchsorted(b, v), vals=[[0.5, 3.0, 6.0], [1.0, 3.0, 5.0]])
case("unique", None, lambda x: torch.unique(x), np.unique, vals=[[3, 1, 2, 3, 1]],
     dtype="int64")
case("unique counts", None, lambda x: tuple(torch.unique(x, return_counts=True)),
     lambda x: tuple(np.unique(x, return_counts=True)), vals=[[3, 1, 2, 3, 1]], dtype="int64")
case("bincount", None, lambda x: torch.bincount(x), np.bincount, vals=[[0, 1, 1, 3]],
     dtype="int64")
case("histc", None, lambda x: torch.histc(x, bins=4, min=0, max=4),
     lambda x: np.histogram(x, bins=4, range=(0, 4))[0].astype(np.float64),
     vals=[[0.5, 1.5, 1.7, 3.2, 3.9]])
case("nonzero", None, lambda x: torch.nonzero(x), lambda x: np.argwhere(x),
     vals=[[[0, 1, 0], [2, 0, 3]]], dtype="int64")
case("nonzero as_tuple", None, lambda x: torch.nonzero(x, as_tuple=True),
     lambda x: np.nonzero(x), vals=[[[0, 1, 0], [2, 0, 3]]], dtype="int64")
