"""Peer op cases: matrix products and ``torch.linalg``, ``torch.nn.functional`` activations,
layers, pooling and losses, and creation functions, written as PyTorch code."""

from __future__ import annotations

import math

import numpy as np

import corefw as torch
import corefw.nn.functional as F

from .harness import case

_erf = np.vectorize(math.erf)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.log1p(np.exp(x))


def _spd(a):
    """A symmetric positive-definite matrix from any square one."""
    return a @ np.swapaxes(a, -1, -2) + a.shape[-1] * np.eye(a.shape[-1])


# -- products and linalg ----------------------------------------------------------------------
case("matmul", [(3, 4), (4, 5)], lambda a, b: a @ b, np.matmul)
case("matmul batched broadcast", [(2, 3, 4), (4, 5)], lambda a, b: torch.matmul(a, b),
     np.matmul)
case("matmul vector", [(3, 4), (4,)], lambda a, b: a.matmul(b), np.matmul)
case("mm", [(3, 4), (4, 2)], lambda a, b: torch.mm(a, b), np.matmul)
case("bmm", [(2, 3, 4), (2, 4, 2)], lambda a, b: torch.bmm(a, b), np.matmul)
case("mv", [(3, 4), (4,)], lambda a, b: torch.mv(a, b), np.matmul)
case("dot", [(5,), (5,)], lambda a, b: torch.dot(a, b), np.dot)
case("vdot", [(5,), (5,)], lambda a, b: torch.vdot(a, b), np.vdot)
case("inner", [(3, 5), (2, 5)], lambda a, b: torch.inner(a, b), np.inner)
case("outer", [(3,), (4,)], lambda a, b: torch.outer(a, b), np.outer)
case("ger alias", [(3,), (4,)], lambda a, b: a.outer(b), np.outer)
case("einsum", [(2, 3), (3, 4)], lambda a, b: torch.einsum("ij,jk->ik", a, b),
     lambda a, b: np.einsum("ij,jk->ik", a, b))
case("einsum batch trace", [(2, 3, 3)], lambda a: torch.einsum("bii->b", a),
     lambda a: np.einsum("bii->b", a))
case("tensordot", [(2, 3, 4), (3, 4, 5)], lambda a, b: torch.tensordot(a, b, dims=2),
     lambda a, b: np.tensordot(a, b, 2))
case("kron", [(2, 2), (2, 3)], lambda a, b: torch.kron(a, b), np.kron)
case("cross", [(4, 3), (4, 3)], lambda a, b: torch.linalg.cross(a, b), np.cross)
case("addmm", [(3, 5), (3, 4), (4, 5)], lambda c, a, b: torch.addmm(c, a, b, beta=0.5,
                                                                   alpha=2.0),
     lambda c, a, b: 0.5 * c + 2 * a @ b)
case("baddbmm", [(2, 3, 5), (2, 3, 4), (2, 4, 5)], lambda c, a, b: torch.baddbmm(c, a, b),
     lambda c, a, b: c + a @ b)
case("addmv", [(3,), (3, 4), (4,)], lambda c, a, b: torch.addmv(c, a, b),
     lambda c, a, b: c + a @ b)
case("linalg.norm", [(3, 4)], lambda a: torch.linalg.norm(a), np.linalg.norm)
case("linalg.vector_norm ord 3", [(3, 4)], lambda a: torch.linalg.vector_norm(a, ord=3, dim=1),
     lambda a: (np.abs(a) ** 3).sum(1) ** (1 / 3))
case("linalg.matrix_norm fro", [(2, 3, 4)], lambda a: torch.linalg.matrix_norm(a),
     lambda a: np.linalg.norm(a, axis=(-2, -1)))
case("linalg.det", [(3, 3)], lambda a: torch.linalg.det(a), np.linalg.det)
case("det method", [(2, 3, 3)], lambda a: a.det(), np.linalg.det)
case("linalg.inv", [(3, 3)], lambda a: torch.linalg.inv(a @ a.mT + 3 * torch.eye(3)),
     lambda a: np.linalg.inv(_spd(a)))
case("inverse", [(3, 3)], lambda a: torch.inverse(a @ a.mT + 3 * torch.eye(3)),
     lambda a: np.linalg.inv(_spd(a)))
case("linalg.solve", [(3, 3), (3, 2)],
     lambda a, b: torch.linalg.solve(a @ a.mT + 3 * torch.eye(3), b),
     lambda a, b: np.linalg.solve(_spd(a), b))
case("linalg.cholesky", [(3, 3)], lambda a: torch.linalg.cholesky(a @ a.mT + 3 * torch.eye(3)),
     lambda a: np.linalg.cholesky(_spd(a)))
case("linalg.slogdet", [(3, 3)], lambda a: torch.linalg.slogdet(a @ a.mT + 3 * torch.eye(3))[1],
     lambda a: np.linalg.slogdet(_spd(a))[1])
case("linalg.eigh values", [(3, 3)],
     lambda a: torch.linalg.eigh(a @ a.mT + 3 * torch.eye(3)).eigenvalues,
     lambda a: np.linalg.eigh(_spd(a))[0])
case("linalg.svd values", [(4, 3)], lambda a: torch.linalg.svd(a, full_matrices=False).S,
     lambda a: np.linalg.svd(a, compute_uv=False))
case("linalg.qr reconstruct", [(4, 3)], lambda a: torch.matmul(*torch.linalg.qr(a)),
     lambda a: a)
case("linalg.pinv", [(4, 3)], lambda a: torch.linalg.pinv(a), np.linalg.pinv, rtol=1e-3,
     atol=1e-4)
case("cdist", [(3, 4), (5, 4)], lambda a, b: torch.cdist(a, b),
     lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)))

# -- activations ------------------------------------------------------------------------------
S = [(6, 7)]
case("F.relu", S, lambda x: F.relu(x), lambda x: np.maximum(x, 0))
case("F.relu6", S, lambda x: F.relu6(x * 4), lambda x: np.clip(x * 4, 0, 6))
case("F.leaky_relu", S, lambda x: F.leaky_relu(x, negative_slope=0.1),
     lambda x: np.where(x > 0, x, 0.1 * x))
case("F.elu", S, lambda x: F.elu(x), lambda x: np.where(x > 0, x, np.expm1(x)))
case("F.selu", S, lambda x: F.selu(x), lambda x: 1.0507009873554805 * np.where(
    x > 0, x, 1.6732632423543772 * np.expm1(x)))
case("F.celu", S, lambda x: F.celu(x, alpha=0.5),
     lambda x: np.maximum(x, 0) + np.minimum(0, 0.5 * np.expm1(x / 0.5)))
case("F.gelu", S, lambda x: F.gelu(x), lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))))
case("F.gelu tanh", S, lambda x: F.gelu(x, approximate="tanh"),
     lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))))
case("F.silu", S, lambda x: F.silu(x), lambda x: x * _sigmoid(x))
case("F.mish", S, lambda x: F.mish(x), lambda x: x * np.tanh(_softplus(x)))
case("F.softplus", S, lambda x: F.softplus(x, beta=2.0), lambda x: _softplus(2 * x) / 2)
case("F.softsign", S, lambda x: F.softsign(x), lambda x: x / (1 + np.abs(x)))
case("F.hardtanh", S, lambda x: F.hardtanh(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5))
case("F.hardsigmoid", S, lambda x: F.hardsigmoid(x * 3), lambda x: np.clip(x * 3 / 6 + 0.5,
                                                                          0, 1))
case("F.hardswish", S, lambda x: F.hardswish(x * 3),
     lambda x: x * 3 * np.clip(x * 3 + 3, 0, 6) / 6)
case("F.logsigmoid", S, lambda x: F.logsigmoid(x), lambda x: -_softplus(-x))
case("F.tanhshrink", S, lambda x: F.tanhshrink(x), lambda x: x - np.tanh(x))
case("F.softshrink", S, lambda x: F.softshrink(x, 0.5),
     lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)))
case("F.hardshrink", S, lambda x: F.hardshrink(x, 0.5), lambda x: np.where(np.abs(x) > 0.5, x,
                                                                          0))
case("F.threshold", S, lambda x: F.threshold(x, 0.1, -1.0), lambda x: np.where(x > 0.1, x,
                                                                              -1.0))
case("F.glu", [(4, 6)], lambda x: F.glu(x, dim=-1), lambda x: x[:, :3] * _sigmoid(x[:, 3:]))
case("F.softmin", S, lambda x: F.softmin(x, dim=1),
     lambda x: np.exp(-x) / np.exp(-x).sum(1, keepdims=True))
case("F.normalize", S, lambda x: F.normalize(x, dim=1),
     lambda x: x / np.linalg.norm(x, axis=1, keepdims=True))
case("F.cosine_similarity", [(4, 5), (4, 5)], lambda a, b: F.cosine_similarity(a, b),
     lambda a, b: (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))
case("F.pairwise_distance", [(4, 5), (4, 5)], lambda a, b: F.pairwise_distance(a, b),
     lambda a, b: np.linalg.norm(a - b + 1e-6, axis=1))


# -- layers -----------------------------------------------------------------------------------
def _conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, oh, ow))
    per = o // groups
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(oh):
            for j in range(ow):
                patch = xs[:, :, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                           j * stride:j * stride + dilation * (kw - 1) + 1:dilation]
                out[:, g * per:(g + 1) * per, i, j] = np.einsum(
                    "nchw,ochw->no", patch, w[g * per:(g + 1) * per])
    return out


def _pool(x, k, s, fn):
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    return np.stack([np.stack([fn(x[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3))
                               for j in range(ow)], -1) for i in range(oh)], -2)


case("F.linear", [(3, 4), (5, 4), (5,)], lambda x, w, b: F.linear(x, w, b),
     lambda x, w, b: x @ w.T + b)
case("F.bilinear", [(3, 4), (3, 2), (5, 4, 2), (5,)], lambda a, b, w, c: F.bilinear(a, b, w, c),
     lambda a, b, w, c: np.einsum("ni,oij,nj->no", a, w, b) + c)
case("F.conv1d", [(2, 3, 9), (4, 3, 3)], lambda x, w: F.conv1d(x, w, padding=1),
     lambda x, w: _conv2d(np.pad(x, ((0, 0), (0, 0), (1, 1)))[:, :, None], w[:, :, None])[:, :, 0])
case("F.conv2d", [(2, 3, 6, 6), (4, 3, 3, 3)], lambda x, w: F.conv2d(x, w), _conv2d)
case("F.conv2d stride padding", [(1, 2, 7, 7), (3, 2, 3, 3)],
     lambda x, w: F.conv2d(x, w, stride=2, padding=1),
     lambda x, w: _conv2d(x, w, stride=2, padding=1))
case("F.conv2d dilation groups", [(1, 4, 7, 7), (4, 2, 2, 2)],
     lambda x, w: F.conv2d(x, w, dilation=2, groups=2),
     lambda x, w: _conv2d(x, w, dilation=2, groups=2))
case("F.conv_transpose2d", [(1, 2, 3, 3), (2, 3, 2, 2)],
     lambda x, w: F.conv_transpose2d(x, w, stride=2),
     lambda x, w: np.einsum("nihw,iojk->nohjwk", x, w).reshape(1, 3, 6, 6))
case("F.max_pool2d", [(2, 3, 6, 6)], lambda x: F.max_pool2d(x, 2),
     lambda x: _pool(x, 2, 2, np.max))
case("F.max_pool2d stride", [(1, 2, 7, 7)], lambda x: F.max_pool2d(x, 3, stride=2),
     lambda x: _pool(x, 3, 2, np.max))
case("F.avg_pool2d", [(2, 3, 6, 6)], lambda x: F.avg_pool2d(x, 2),
     lambda x: _pool(x, 2, 2, np.mean))
case("F.adaptive_avg_pool2d", [(2, 3, 6, 6)], lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
     lambda x: x.reshape(2, 3, 2, 3, 3, 2).mean((3, 5)))
case("F.adaptive_max_pool2d", [(2, 3, 4, 4)], lambda x: F.adaptive_max_pool2d(x, 2),
     lambda x: x.reshape(2, 3, 2, 2, 2, 2).max((3, 5)))
case("F.max_pool1d", [(2, 3, 8)], lambda x: F.max_pool1d(x, 2),
     lambda x: x.reshape(2, 3, 4, 2).max(-1))
case("F.avg_pool1d", [(2, 3, 8)], lambda x: F.avg_pool1d(x, 4),
     lambda x: x.reshape(2, 3, 2, 4).mean(-1))
case("F.pad constant", [(2, 3, 4)], lambda x: F.pad(x, (1, 2), value=0.5),
     lambda x: np.pad(x, ((0, 0), (0, 0), (1, 2)), constant_values=0.5))
case("F.pad 2d", [(1, 2, 3, 4)], lambda x: F.pad(x, (1, 1, 2, 0)),
     lambda x: np.pad(x, ((0, 0), (0, 0), (2, 0), (1, 1))))
case("F.pad reflect", [(1, 2, 5)], lambda x: F.pad(x, (2, 1), mode="reflect"),
     lambda x: np.pad(x, ((0, 0), (0, 0), (2, 1)), mode="reflect"))
case("F.pad replicate", [(1, 2, 3, 4)], lambda x: F.pad(x, (1, 2, 1, 0), mode="replicate"),
     lambda x: np.pad(x, ((0, 0), (0, 0), (1, 0), (1, 2)), mode="edge"))
case("F.pad circular", [(1, 2, 5)], lambda x: F.pad(x, (1, 2), mode="circular"),
     lambda x: np.pad(x, ((0, 0), (0, 0), (1, 2)), mode="wrap"))
case("F.interpolate nearest", [(1, 2, 3, 3)], lambda x: F.interpolate(x, scale_factor=2),
     lambda x: x.repeat(2, 2).repeat(2, 3))
case("F.interpolate bilinear align", [(1, 1, 2, 2)],
     lambda x: F.interpolate(x, size=(3, 3), mode="bilinear", align_corners=True),
     lambda x: np.einsum("ij,ncjk,lk->ncil", np.array([[1, 0], [.5, .5], [0, 1]]), x,
                         np.array([[1, 0], [.5, .5], [0, 1]])))
case("F.pixel_shuffle", [(1, 8, 2, 3)], lambda x: F.pixel_shuffle(x, 2),
     lambda x: x.reshape(1, 2, 2, 2, 2, 3).transpose(0, 1, 4, 2, 5, 3).reshape(1, 2, 4, 6))
case("F.layer_norm", [(3, 6)], lambda x: F.layer_norm(x, (6,)),
     lambda x: (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5))
case("F.layer_norm affine", [(3, 6), (6,), (6,)], lambda x, w, b: F.layer_norm(x, (6,), w, b),
     lambda x, w, b: (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
     * w + b)
case("F.group_norm", [(2, 4, 3)], lambda x: F.group_norm(x, 2),
     lambda x: ((x.reshape(2, 2, 6) - x.reshape(2, 2, 6).mean(-1, keepdims=True))
                / np.sqrt(x.reshape(2, 2, 6).var(-1, keepdims=True) + 1e-5)).reshape(2, 4, 3))
case("F.batch_norm training", [(5, 3)], lambda x: F.batch_norm(
    x, torch.zeros(3), torch.ones(3), training=True),
    lambda x: (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5))
case("F.instance_norm", [(2, 3, 5)], lambda x: F.instance_norm(x),
     lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5))
case("F.rms_norm", [(3, 6)], lambda x: F.rms_norm(x, (6,), eps=1e-6),
     lambda x: x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6))
case("F.embedding", [(5, 3)], lambda w: F.embedding(torch.tensor([[0, 4], [2, 2]]), w),
     lambda w: w[np.array([[0, 4], [2, 2]])])
case("F.one_hot", None, lambda x: F.one_hot(x, num_classes=4),
     lambda x: np.eye(4, dtype=np.int64)[x], vals=[[0, 3, 1]], dtype="int64")
case("F.dropout eval", S, lambda x: F.dropout(x, p=0.5, training=False), lambda x: x)
case("F.unfold", [(1, 2, 4, 4)], lambda x: F.unfold(x, kernel_size=2, stride=2),
     lambda x: x.reshape(1, 2, 2, 2, 2, 2).transpose(0, 1, 3, 5, 2, 4).reshape(1, 8, 4))
case("F.scaled_dot_product_attention", [(2, 3, 4), (2, 5, 4), (2, 5, 4)],
     lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
     lambda q, k, v: _softmax_last(q @ np.swapaxes(k, -1, -2) / 2.0) @ v)


def _softmax_last(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# -- losses -----------------------------------------------------------------------------------
T = [(4, 5), (4, 5)]
case("F.mse_loss", T, lambda a, b: F.mse_loss(a, b), lambda a, b: ((a - b) ** 2).mean())
case("F.mse_loss sum", T, lambda a, b: F.mse_loss(a, b, reduction="sum"),
     lambda a, b: ((a - b) ** 2).sum())
case("F.l1_loss", T, lambda a, b: F.l1_loss(a, b), lambda a, b: np.abs(a - b).mean())
case("F.smooth_l1_loss", T, lambda a, b: F.smooth_l1_loss(a, b, beta=0.5),
     lambda a, b: np.where(np.abs(a - b) < 0.5, 0.5 * (a - b) ** 2 / 0.5,
                           np.abs(a - b) - 0.25).mean())
case("F.huber_loss", T, lambda a, b: F.huber_loss(a, b, reduction="none", delta=0.7),
     lambda a, b: np.where(np.abs(a - b) < 0.7, 0.5 * (a - b) ** 2,
                           0.7 * (np.abs(a - b) - 0.35)))
case("F.binary_cross_entropy", T, lambda p, y: F.binary_cross_entropy(p, y),
     lambda p, y: -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(), low=0.1, high=0.9)
case("F.binary_cross_entropy_with_logits", T,
     lambda x, y: F.binary_cross_entropy_with_logits(x, y),
     lambda x, y: (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean(), grad=(0,))
case("F.cross_entropy", [(4, 5)], lambda x: F.cross_entropy(x, torch.tensor([0, 4, 2, 2])),
     lambda x: -np.log(_softmax_last(x))[np.arange(4), [0, 4, 2, 2]].mean())
case("F.cross_entropy label_smoothing", [(4, 5)],
     lambda x: F.cross_entropy(x, torch.tensor([1, 0, 3, 2]), label_smoothing=0.1),
     lambda x: (0.9 * -np.log(_softmax_last(x))[np.arange(4), [1, 0, 3, 2]]
                + 0.1 * -np.log(_softmax_last(x)).mean(1)).mean())
case("F.cross_entropy probabilities", [(4, 5), (4, 5)],
     lambda x, p: F.cross_entropy(x, p.softmax(-1)),
     lambda x, p: -(_softmax_last(p) * np.log(_softmax_last(x))).sum(1).mean())
case("F.nll_loss", [(4, 5)], lambda x: F.nll_loss(x, torch.tensor([1, 1, 0, 4])),
     lambda x: -x[np.arange(4), [1, 1, 0, 4]].mean())
case("F.kl_div", T, lambda a, b: F.kl_div(a, b, reduction="batchmean"),
     lambda a, b: (b * (np.log(b) - a)).sum() / 4, low=0.1, high=1)
case("F.soft_margin_loss", T, lambda a, b: F.soft_margin_loss(a, b.sign()),
     lambda a, b: np.log1p(np.exp(-np.sign(b) * a)).mean(), grad=(0,))
case("F.cosine_embedding_loss", T,
     lambda a, b: F.cosine_embedding_loss(a, b, torch.tensor([1, -1, 1, -1])),
     lambda a, b: np.where(np.array([1, -1, 1, -1]) > 0, 1 - _cos(a, b),
                           np.maximum(0, _cos(a, b))).mean())
case("F.margin_ranking_loss", [(5,), (5,)],
     lambda a, b: F.margin_ranking_loss(a, b, torch.tensor([1.0, -1, 1, 1, -1]), margin=0.1),
     lambda a, b: np.maximum(0, -np.array([1.0, -1, 1, 1, -1]) * (a - b) + 0.1).mean())
case("F.poisson_nll_loss", T, lambda a, b: F.poisson_nll_loss(a, b),
     lambda a, b: (np.exp(a) - b * a).mean())
case("F.gaussian_nll_loss", [(4, 5), (4, 5), (4, 5)],
     lambda a, b, v: F.gaussian_nll_loss(a, b, v.abs() + 0.5),
     lambda a, b, v: (0.5 * (np.log(np.abs(v) + 0.5)
                             + (a - b) ** 2 / (np.abs(v) + 0.5))).mean(), grad=(0, 1))


def _cos(a, b):
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                       1e-8)


# -- creation ---------------------------------------------------------------------------------
case("arange", None, lambda: torch.arange(2, 11, 3), lambda: np.arange(2, 11, 3), vals=[])
case("arange float", None, lambda: torch.arange(0, 1, 0.25),
     lambda: np.arange(0, 1, 0.25), vals=[])
case("linspace", None, lambda: torch.linspace(-1, 1, steps=5), lambda: np.linspace(-1, 1, 5),
     vals=[])
case("logspace", None, lambda: torch.logspace(0, 2, 3), lambda: np.logspace(0, 2, 3), vals=[])
case("eye", None, lambda: torch.eye(3, 4), lambda: np.eye(3, 4), vals=[])
case("full", None, lambda: torch.full((2, 3), 1.5), lambda: np.full((2, 3), 1.5), vals=[])
case("zeros_like", [(2, 3)], lambda x: torch.zeros_like(x) + x, lambda x: x)
case("ones dtype", None, lambda: torch.ones(2, 2, dtype=torch.int64),
     lambda: np.ones((2, 2), np.int64), vals=[])
case("tril_indices", None, lambda: torch.tril_indices(3, 3), lambda: np.stack(np.tril_indices(
    3)), vals=[])
case("meshgrid ij", [(3,), (4,)], lambda a, b: torch.meshgrid(a, b, indexing="ij")[1] * 1.0,
     lambda a, b: np.meshgrid(a, b, indexing="ij")[1])
case("cartesian_prod", None, lambda a, b: torch.cartesian_prod(a, b),
     lambda a, b: np.array([[x, y] for x in a for y in b]), vals=[[1, 2], [3, 4, 5]],
     dtype="int64")
case("tensor from list", None, lambda: torch.tensor([[1, 2], [3, 4]]) * 1.5,
     lambda: np.array([[1.5, 3.0], [4.5, 6.0]]), vals=[])
case("Tensor legacy constructor", None, lambda: torch.Tensor([1, 2]) + torch.Tensor(2).zero_(),
     lambda: np.array([1.0, 2.0]), vals=[])
