"""Peer op cases: views and movement, joining and splitting, indexing and scattering,
written as PyTorch code."""

from __future__ import annotations

import numpy as np

import corefw as torch

from .harness import case

X = [(3, 4, 5)]
M = [(4, 5)]

case("reshape", X, lambda x: x.reshape(6, 10), lambda x: x.reshape(6, 10))
case("reshape -1", X, lambda x: torch.reshape(x, (-1, 5)), lambda x: x.reshape(-1, 5))
case("view", X, lambda x: x.view(12, 5), lambda x: x.reshape(12, 5))
case("view_as", [(3, 4, 5), (60,)], lambda x, y: x.view_as(y) + y,
     lambda x, y: x.reshape(60) + y)
case("flatten", X, lambda x: torch.flatten(x), lambda x: x.reshape(-1))
case("flatten start_dim", X, lambda x: x.flatten(1), lambda x: x.reshape(3, 20))
case("unflatten", [(3, 20)], lambda x: x.unflatten(1, (4, 5)), lambda x: x.reshape(3, 4, 5))
case("permute", X, lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1))
case("permute tuple", X, lambda x: torch.permute(x, (1, 2, 0)),
     lambda x: x.transpose(1, 2, 0))
case("transpose", X, lambda x: x.transpose(0, 2), lambda x: np.swapaxes(x, 0, 2))
case("swapaxes", X, lambda x: torch.swapaxes(x, 0, 1), lambda x: np.swapaxes(x, 0, 1))
case("t", M, lambda x: x.t(), lambda x: x.T)
case("T property", M, lambda x: x.T, lambda x: x.T)
case("mT property", X, lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2))
case("movedim", X, lambda x: torch.movedim(x, 0, -1), lambda x: np.moveaxis(x, 0, -1))
case("moveaxis", X, lambda x: x.moveaxis((0, 1), (2, 0)),
     lambda x: np.moveaxis(x, (0, 1), (2, 0)))
case("squeeze", [(3, 1, 4, 1)], lambda x: x.squeeze(), lambda x: x.squeeze())
case("squeeze dim", [(3, 1, 4, 1)], lambda x: torch.squeeze(x, 1), lambda x: x.squeeze(1))
case("squeeze dims tuple", [(3, 1, 4, 1)], lambda x: x.squeeze((1, 3)),
     lambda x: x.squeeze((1, 3)))
case("unsqueeze", M, lambda x: x.unsqueeze(0), lambda x: x[None])
case("unsqueeze negative", M, lambda x: torch.unsqueeze(x, -1), lambda x: x[..., None])
case("expand", [(4, 1)], lambda x: x.expand(4, 5), lambda x: np.broadcast_to(x, (4, 5)))
case("expand -1", [(1, 5)], lambda x: x.expand(3, -1, -1),
     lambda x: np.broadcast_to(x, (3, 1, 5)))
case("expand_as", [(4, 1), (4, 5)], lambda x, y: x.expand_as(y) * y,
     lambda x, y: np.broadcast_to(x, (4, 5)) * y)
case("broadcast_to", [(1, 5)], lambda x: torch.broadcast_to(x, (3, 5)),
     lambda x: np.broadcast_to(x, (3, 5)))
case("repeat", M, lambda x: x.repeat(2, 3), lambda x: np.tile(x, (2, 3)))
case("repeat more dims", [(3,)], lambda x: x.repeat(2, 1, 2), lambda x: np.tile(x, (2, 1, 2)))
case("repeat_interleave", M, lambda x: torch.repeat_interleave(x, 2, dim=0),
     lambda x: np.repeat(x, 2, 0))
case("repeat_interleave flat", M, lambda x: x.repeat_interleave(3),
     lambda x: np.repeat(x, 3))
case("repeat_interleave tensor", None, lambda x: torch.repeat_interleave(
    x, torch.tensor([1, 2, 0]), dim=0), lambda x: np.repeat(x, [1, 2, 0], 0),
    vals=[[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
case("tile", M, lambda x: torch.tile(x, (2,)), lambda x: np.tile(x, (2,)))
case("flip", X, lambda x: torch.flip(x, dims=(0, 2)), lambda x: np.flip(x, (0, 2)))
case("flip list", X, lambda x: x.flip([1]), lambda x: np.flip(x, 1))
case("fliplr", M, lambda x: torch.fliplr(x), np.fliplr)
case("flipud", M, lambda x: x.flipud(), np.flipud)
case("roll", X, lambda x: torch.roll(x, 2, dims=1), lambda x: np.roll(x, 2, 1))
case("roll flat", M, lambda x: x.roll(3), lambda x: np.roll(x, 3))
case("roll multi", X, lambda x: torch.roll(x, shifts=(1, -2), dims=(0, 2)),
     lambda x: np.roll(x, (1, -2), (0, 2)))
case("rot90", M, lambda x: torch.rot90(x), np.rot90)
case("rot90 k dims", X, lambda x: x.rot90(2, dims=(1, 2)), lambda x: np.rot90(x, 2, (1, 2)))
case("narrow", M, lambda x: torch.narrow(x, 1, 1, 3), lambda x: x[:, 1:4])
case("narrow method", M, lambda x: x.narrow(0, 2, 2), lambda x: x[2:4])
case("chunk", [(6, 5)], lambda x: torch.chunk(x, 3)[1], lambda x: x[2:4])
case("chunk uneven", [(5, 7)], lambda x: x.chunk(3, dim=1)[2], lambda x: x[:, 6:])
case("split", [(6, 5)], lambda x: torch.split(x, 4)[1], lambda x: x[4:])
case("split sizes", [(6, 5)], lambda x: x.split([1, 4], dim=1)[1], lambda x: x[:, 1:])
case("tensor_split", [(7, 3)], lambda x: torch.tensor_split(x, 3)[0], lambda x: x[:3])
case("tensor_split indices", [(7, 3)], lambda x: x.tensor_split([2, 5])[1],
     lambda x: x[2:5])
case("unbind", [(3, 4)], lambda x: torch.unbind(x, dim=1)[2], lambda x: x[:, 2])
case("stack", [(3, 4), (3, 4)], lambda x, y: torch.stack([x, y]), lambda x, y: np.stack([x, y]))
case("stack dim", [(3, 4), (3, 4)], lambda x, y: torch.stack((x, y), dim=-1),
     lambda x, y: np.stack([x, y], -1))
case("cat", [(3, 4), (2, 4)], lambda x, y: torch.cat([x, y]), lambda x, y: np.concatenate(
    [x, y]))
case("cat dim", [(3, 4), (3, 2)], lambda x, y: torch.cat((x, y), dim=1),
     lambda x, y: np.concatenate([x, y], 1))
case("concat", [(3, 4), (2, 4)], lambda x, y: torch.concat([x, y], dim=0),
     lambda x, y: np.concatenate([x, y]))
case("concatenate axis", [(3, 4), (3, 4)], lambda x, y: torch.concatenate([x, y], axis=1),
     lambda x, y: np.concatenate([x, y], 1))
case("hstack", [(3, 4), (3, 2)], lambda x, y: torch.hstack([x, y]), lambda x, y: np.hstack(
    [x, y]))
case("vstack", [(4,), (4,)], lambda x, y: torch.vstack([x, y]), lambda x, y: np.vstack([x, y]))
case("dstack", [(3, 4), (3, 4)], lambda x, y: torch.dstack([x, y]), lambda x, y: np.dstack(
    [x, y]))
case("column_stack", [(3,), (3, 2)], lambda x, y: torch.column_stack([x, y]),
     lambda x, y: np.column_stack([x, y]))
case("atleast_2d", [(3,)], lambda x: torch.atleast_2d(x), np.atleast_2d)
case("diagonal", M, lambda x: torch.diagonal(x), np.diagonal)
case("diagonal offset", M, lambda x: x.diagonal(offset=1), lambda x: np.diagonal(x, 1))
case("diagonal dims", X, lambda x: torch.diagonal(x, 0, dim1=1, dim2=2),
     lambda x: np.diagonal(x, 0, 1, 2))
case("diag vector", [(4,)], lambda x: torch.diag(x), np.diag)
case("diag matrix", M, lambda x: torch.diag(x, 1), lambda x: np.diag(x, 1))
case("diag_embed", [(2, 3)], lambda x: torch.diag_embed(x),
     lambda x: np.stack([np.diag(r) for r in x]))
case("diagflat", [(2, 2)], lambda x: torch.diagflat(x), np.diagflat)
case("tril", M, lambda x: torch.tril(x), np.tril)
case("triu diagonal", M, lambda x: x.triu(diagonal=1), lambda x: np.triu(x, 1))
case("trace", M, lambda x: torch.trace(x), np.trace)
case("unfold", [(2, 9)], lambda x: x.unfold(1, 3, 2),
     lambda x: np.stack([x[:, i:i + 3] for i in range(0, 7, 2)], 1))
case("as_strided", [(12,)], lambda x: torch.as_strided(x, (3, 3), (3, 1), 1),
     lambda x: np.lib.stride_tricks.as_strided(x[1:], (3, 3), (24, 8)))

# -- indexing ---------------------------------------------------------------------------------
case("getitem slice", X, lambda x: x[1:, ::2, -3:], lambda x: x[1:, ::2, -3:])
case("getitem int", X, lambda x: x[1, :, 2], lambda x: x[1, :, 2])
case("getitem ellipsis none", X, lambda x: x[..., None, 1], lambda x: x[..., None, 1])
case("getitem negative step free", X, lambda x: x[-1], lambda x: x[-1])
case("getitem list", X, lambda x: x[[0, 2, 2]], lambda x: x[[0, 2, 2]])
case("getitem tensor index", X, lambda x: x[:, torch.tensor([3, 0])], lambda x: x[:, [3, 0]])
case("getitem two index tensors", X,
     lambda x: x[torch.tensor([0, 2]), torch.tensor([1, 3])], lambda x: x[[0, 2], [1, 3]])
case("getitem bool mask", M, lambda x: x[x > 0], lambda x: x[x > 0])
case("gather", [(4, 5)], lambda x: torch.gather(x, 1, torch.tensor([[0, 4], [1, 1], [2, 0],
                                                                      [3, 3]])),
     lambda x: np.take_along_axis(x, np.array([[0, 4], [1, 1], [2, 0], [3, 3]]), 1))
case("gather method dim0", [(4, 5)], lambda x: x.gather(0, torch.tensor([[3, 2, 1, 0, 0]])),
     lambda x: np.take_along_axis(x, np.array([[3, 2, 1, 0, 0]]), 0))
case("take", M, lambda x: torch.take(x, torch.tensor([0, 7, 19])),
     lambda x: np.take(x, [0, 7, 19]))
case("take_along_dim", M, lambda x: torch.take_along_dim(x, torch.tensor([[1], [0], [4], [2]]),
                                                         dim=1),
     lambda x: np.take_along_axis(x, np.array([[1], [0], [4], [2]]), 1))
case("index_select", M, lambda x: torch.index_select(x, 1, torch.tensor([4, 0, 0])),
     lambda x: x[:, [4, 0, 0]])
case("masked_fill", M, lambda x: x.masked_fill(x < 0, 0.5), lambda x: np.where(x < 0, 0.5, x))
case("masked_fill function", M, lambda x: torch.masked_fill(x, x > 1, -1.0),
     lambda x: np.where(x > 1, -1.0, x))
case("masked_select", M, lambda x: torch.masked_select(x, x > 0), lambda x: x[x > 0])
case("scatter", [(3, 5)], lambda s: torch.zeros(3, 5).scatter(
    1, torch.tensor([[0], [2], [4]]), s[:, :1]),
    lambda s: np.stack([np.eye(5)[j] * s[i, 0] for i, j in enumerate([0, 2, 4])]))
case("scatter value", [(3, 4)], lambda x: x.scatter(1, torch.tensor([[1], [0], [3]]), 9.0),
     lambda x: np.where(np.eye(4)[[1, 0, 3]] > 0, 9.0, x))
case("scatter_add", [(2, 3)], lambda s: torch.zeros(2, 4).scatter_add(
    1, torch.tensor([[0, 0, 3], [1, 2, 1]]), s),
    lambda s: np.array([[s[0, 0] + s[0, 1], 0, 0, s[0, 2]], [0, s[1, 0] + s[1, 2], s[1, 1], 0]]))
case("scatter_reduce amax", None, lambda s: torch.zeros(3).scatter_reduce(
    0, torch.tensor([0, 0, 2]), s, reduce="amax", include_self=False),
    lambda s: np.array([max(s[0], s[1]), 0.0, s[2]]), vals=[[1.0, 3.0, -2.0]])
case("index_add", [(3, 4), (2, 4)], lambda x, s: x.index_add(0, torch.tensor([0, 2]), s),
     lambda x, s: x + np.stack([s[0], np.zeros(4), s[1]]))
case("index_add alpha", [(3, 4), (2, 4)],
     lambda x, s: torch.index_add(x, 0, torch.tensor([1, 1]), s, alpha=2.0),
     lambda x, s: x + np.stack([np.zeros(4), 2 * (s[0] + s[1]), np.zeros(4)]))
case("index_fill", M, lambda x: x.index_fill(1, torch.tensor([0, 3]), -1.0),
     lambda x: np.where(np.isin(np.arange(5), [0, 3]), -1.0, x))
case("index_copy", [(3, 4), (1, 4)], lambda x, s: x.index_copy(0, torch.tensor([1]), s),
     lambda x, s: np.concatenate([x[:1], s, x[2:]]))
case("where one arg", None, lambda x: torch.where(x)[0], lambda x: np.nonzero(x)[0],
     vals=[[0, 3, 0, 1]], dtype="int64")
case("argwhere", None, lambda x: torch.argwhere(x), np.argwhere, vals=[[[0, 1], [1, 1]]],
     dtype="int64")
case("setitem slice", M, lambda x: _set(x, (slice(1, 3), slice(None)), 0.0),
     lambda x: _nset(x, (slice(1, 3), slice(None)), 0.0))
case("setitem mask", M, lambda x: _set(x, None, -1.0), lambda x: np.where(x > 0, -1.0, x),
     grad=())


def _set(x, idx, value):
    y = x.clone()
    if idx is None:
        y[y > 0] = value
    else:
        y[idx] = value
    return y


def _nset(x, idx, value):
    y = x.copy()
    y[idx] = value
    return y
