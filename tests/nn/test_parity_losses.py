"""The remaining torch.nn losses: forward against float64 numpy written from PyTorch's formulas
(and its documented examples), every reduction, backward by finite differences, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
from corefw import nn
from corefw.autograd import gradcheck
from corefw.errors import DTypeError, ShapeError
from corefw.nn import functional as F

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 5))
Y = RNG.standard_normal((4, 5))
SIGNS = np.where(RNG.standard_normal((4, 5)) > 0, 1.0, -1.0)
BIN = (RNG.uniform(size=(4, 5)) > 0.5).astype(np.float64)


def _logsig(x):
    return -np.logaddexp(0, -x)


def _reduce(v, reduction):
    return v if reduction == "none" else (v.sum() if reduction == "sum" else v.mean())


def _multilabel_margin(x, y):
    out = []
    for xs, ys in zip(x, y):
        labels = []
        for v in ys:
            if v < 0:
                break
            labels.append(v)
        total = sum(max(0.0, 1 - (xs[j] - xs[i])) for j in labels
                    for i in range(len(xs)) if i not in labels)
        out.append(total / len(xs))
    return np.array(out)


def _multi_margin(x, y, p, margin, w):
    out = []
    for xs, t in zip(x, y):
        terms = [(w[t] if w is not None else 1) * max(0.0, margin - xs[t] + xs[i]) ** p
                 for i in range(len(xs)) if i != t]
        out.append(sum(terms) / len(xs))
    return np.array(out)


def _cos_emb(a, b, y, margin):
    cos = (a * b).sum(1) / np.sqrt(((a * a).sum(1) + 1e-12) * ((b * b).sum(1) + 1e-12))
    return np.where(y == 1, 1 - cos, np.maximum(0, cos - margin))


def _poisson(x, t, log_input, full):
    loss = np.exp(x) - t * x if log_input else x - t * np.log(x + 1e-8)
    if full:
        safe = np.where(t > 1, t, 1.0)
        loss = loss + np.where(t > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * np.pi * safe),
                               0)
    return loss


LABELS = np.array([[3, 0, -1, 1, 2], [4, -1, 0, 0, 0], [0, 1, 2, 3, 4], [-1, 0, 0, 0, 0]])
TARGET = np.array([1, 4, 0, 2])
W = np.array([0.5, 1.0, 2.0, 1.5, 0.7])

# name -> (call(reduction) on float64 tensors with grad, numpy reference per element/sample,
#          tensors to gradcheck)
CASES = {
    "soft_margin": (lambda r, x: F.soft_margin_loss(x, t64(SIGNS), reduction=r),
                    np.log1p(np.exp(-SIGNS * X))),
    "multilabel_soft_margin": (
        lambda r, x: F.multilabel_soft_margin_loss(x, t64(BIN), t64(W), reduction=r),
        (-(BIN * _logsig(X) + (1 - BIN) * _logsig(-X)) * W).mean(1)),
    "multilabel_margin": (
        lambda r, x: F.multilabel_margin_loss(x, corefw.tensor(LABELS), reduction=r),
        _multilabel_margin(X, LABELS)),
    "multi_margin_p2": (
        lambda r, x: F.multi_margin_loss(x, corefw.tensor(TARGET), p=2, margin=0.7,
                                         weight=t64(W), reduction=r),
        _multi_margin(X, TARGET, 2, 0.7, W)),
    "multi_margin": (lambda r, x: F.multi_margin_loss(x, corefw.tensor(TARGET), reduction=r),
                     _multi_margin(X, TARGET, 1, 1.0, None)),
    "hinge_embedding": (
        lambda r, x: F.hinge_embedding_loss(x, t64(SIGNS), margin=0.5, reduction=r),
        np.where(SIGNS == 1, X, np.maximum(0, 0.5 - X))),
    "cosine_embedding": (
        lambda r, x: F.cosine_embedding_loss(x, t64(Y), t64(SIGNS[:, 0]), margin=0.1,
                                             reduction=r),
        _cos_emb(X, Y, SIGNS[:, 0], 0.1)),
    "margin_ranking": (
        lambda r, x: F.margin_ranking_loss(x, t64(Y), t64(SIGNS), margin=0.2, reduction=r),
        np.maximum(0, -SIGNS * (X - Y) + 0.2)),
    "triplet": (
        lambda r, x: F.triplet_margin_loss(x, t64(Y), t64(Y[::-1].copy()), margin=1.5,
                                           p=3, reduction=r),
        np.maximum(0, 1.5 + np.linalg.norm(X - Y + 1e-6, 3, axis=1)
                   - np.linalg.norm(X - Y[::-1] + 1e-6, 3, axis=1))),
    "triplet_swap": (
        lambda r, x: F.triplet_margin_with_distance_loss(
            x, t64(Y), t64(Y[::-1].copy()), swap=True, reduction=r),
        np.maximum(0, 1.0 + np.linalg.norm(X - Y + 1e-6, axis=1) - np.minimum(
            np.linalg.norm(X - Y[::-1] + 1e-6, axis=1),
            np.linalg.norm(Y - Y[::-1] + 1e-6, axis=1)))),
    "poisson_full": (
        lambda r, x: F.poisson_nll_loss(x, t64(np.abs(Y) * 3), full=True, reduction=r),
        _poisson(X, np.abs(Y) * 3, True, True)),
    "poisson_rate": (
        lambda r, x: F.poisson_nll_loss(x.abs() + 0.1, t64(np.abs(Y)), log_input=False,
                                        reduction=r),
        _poisson(np.abs(X) + 0.1, np.abs(Y), False, False)),
    "gaussian_full": (
        lambda r, x: F.gaussian_nll_loss(x, t64(Y), t64(np.abs(Y[:, :1]) + 0.1), full=True,
                                         reduction=r),
        0.5 * (np.log(np.abs(Y[:, :1]) + 0.1) + (X - Y) ** 2 / (np.abs(Y[:, :1]) + 0.1))
        + 0.5 * math.log(2 * math.pi)),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_loss_forward_every_reduction(name, reduction):
    call, per = CASES[name]
    got = npy(call(reduction, t64(X)))
    np.testing.assert_allclose(got, _reduce(per, reduction), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_gradient(name):
    call, _ = CASES[name]
    assert gradcheck(lambda x: call("sum", x), (t64(X, requires_grad=True),))


def test_documented_examples():
    x = corefw.tensor([[0.1, 0.2, 0.4, 0.8]])
    assert nn.MultiLabelMarginLoss()(x, corefw.tensor([[3, 0, -1, 1]])).item() == \
        pytest.approx(0.85, abs=1e-6)
    assert nn.MultiMarginLoss()(x, corefw.tensor([3])).item() == pytest.approx(0.325, abs=1e-6)


def test_modules_pass_their_arguments():
    x, y = t64(X), t64(Y)
    assert nn.SoftMarginLoss(reduction="sum")(x, t64(SIGNS)).item() == pytest.approx(
        np.log1p(np.exp(-SIGNS * X)).sum())
    m = nn.MultiLabelSoftMarginLoss(weight=t64(W))
    assert list(m.state_dict()) == ["weight"]
    assert m(x, t64(BIN)).item() == pytest.approx(CASES["multilabel_soft_margin"][1].mean())
    assert nn.MultiMarginLoss(p=2, margin=0.7, weight=t64(W))(
        x, corefw.tensor(TARGET)).item() == pytest.approx(CASES["multi_margin_p2"][1].mean())
    assert nn.HingeEmbeddingLoss(0.5)(x, t64(SIGNS)).item() == pytest.approx(
        CASES["hinge_embedding"][1].mean())
    assert nn.CosineEmbeddingLoss(0.1)(x, y, t64(SIGNS[:, 0])).item() == pytest.approx(
        CASES["cosine_embedding"][1].mean())
    assert nn.MarginRankingLoss(0.2)(x, y, t64(SIGNS)).item() == pytest.approx(
        CASES["margin_ranking"][1].mean())
    assert nn.TripletMarginLoss(1.5, p=3)(x, y, t64(Y[::-1].copy())).item() == \
        pytest.approx(CASES["triplet"][1].mean())
    assert nn.TripletMarginWithDistanceLoss(swap=True)(x, y, t64(Y[::-1].copy())).item() == \
        pytest.approx(CASES["triplet_swap"][1].mean())
    assert nn.PoissonNLLLoss(full=True)(x, t64(np.abs(Y) * 3)).item() == pytest.approx(
        CASES["poisson_full"][1].mean())
    var = t64(np.abs(Y[:, :1]) + 0.1)
    assert nn.GaussianNLLLoss(full=True)(x, y, var).item() == pytest.approx(
        CASES["gaussian_full"][1].mean())
    # var with one dim less is unsqueezed; a clamped var passes the gradient through
    assert nn.GaussianNLLLoss(full=True)(x, y, var.squeeze(1)).item() == pytest.approx(
        CASES["gaussian_full"][1].mean())
    v = t64(np.zeros((4, 5)), requires_grad=True)
    F.gaussian_nll_loss(x, y, v).backward()
    assert np.isfinite(npy(v.grad)).all() and np.abs(npy(v.grad)).max() > 0


def test_loss_errors():
    x = t64(X)
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.soft_margin_loss(x, x, reduction="avg")
    with pytest.raises(DTypeError, match="multi_margin_loss: target must be an integer"):
        F.multi_margin_loss(x, x)
    with pytest.raises(ValueError, match="only p == 1 and p == 2"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ShapeError, match=r"multilabel_margin_loss: target of shape \(4, 4\)"):
        F.multilabel_margin_loss(x, corefw.zeros(4, 4, dtype=corefw.int64))
    with pytest.raises(ShapeError, match="cosine_embedding_loss: target of shape"):
        F.cosine_embedding_loss(x, x, t64(np.ones(5)))
    with pytest.raises(ShapeError, match="gaussian_nll_loss: var of shape"):
        F.gaussian_nll_loss(x, x, t64(np.ones((4, 3))))
    with pytest.raises(ValueError, match="var has negative"):
        F.gaussian_nll_loss(x, x, -t64(np.ones((4, 5))))
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        nn.TripletMarginWithDistanceLoss(margin=0)
    with pytest.raises(ShapeError, match="triplet_margin_loss"):
        F.triplet_margin_loss(x, x, t64(np.ones(5)))


# -- CTC -----------------------------------------------------------------------------------------
def _ctc_brute(lp, target, blank=0):
    """-log of the summed probability of every path that collapses to ``target``."""
    import itertools

    t_len, c = lp.shape
    total = 0.0
    for path in itertools.product(range(c), repeat=t_len):
        merged = [k for k, _ in itertools.groupby(path)]
        if [k for k in merged if k != blank] == list(target):
            total += np.exp(sum(lp[t, k] for t, k in enumerate(path)))
    return -np.log(total) if total > 0 else np.inf


def test_ctc_loss_sums_every_alignment():
    rng = np.random.default_rng(5)
    t, n, c = 5, 4, 4
    lp = np.log(rng.dirichlet(np.ones(c), (t, n)))
    targets = np.array([[1, 2, 0], [3, 3, 0], [2, 1, 3], [1, 0, 0]])
    tl, il = [2, 2, 3, 0], [5, 4, 5, 3]
    want = np.array([_ctc_brute(lp[:il[i], i], targets[i, :tl[i]]) for i in range(n)])
    got = F.ctc_loss(t64(lp), corefw.tensor(targets), corefw.tensor(il), corefw.tensor(tl),
                     reduction="none")
    np.testing.assert_allclose(npy(got), want, rtol=1e-10)
    mean = nn.CTCLoss()(t64(lp), corefw.tensor(targets), il, tl)
    assert mean.item() == pytest.approx((want / np.maximum(tl, 1)).mean())
    flat = corefw.tensor([1, 2, 3, 3, 2, 1, 3])  # concatenated targets
    np.testing.assert_allclose(npy(F.ctc_loss(t64(lp), flat, il, tl, reduction="none")), want,
                               rtol=1e-10)
    one = F.ctc_loss(t64(lp[:, 0]), corefw.tensor([1, 2]), [5], [2], reduction="none")
    assert one.item() == pytest.approx(want[0])
    assert gradcheck(lambda x: F.ctc_loss(x, corefw.tensor(targets), il, tl),
                     (t64(lp, requires_grad=True),))


def test_ctc_loss_impossible_alignment_and_errors():
    lp = t64(np.log(np.full((2, 1, 3), 1 / 3)))
    tgt = corefw.tensor([[1, 1]])  # a repeat needs a blank between: 3 frames at least
    assert F.ctc_loss(lp, tgt, [2], [2]).item() == np.inf
    x = lp.detach().requires_grad_()
    loss = nn.CTCLoss(zero_infinity=True)(x, tgt, [2], [2])
    loss.backward()
    assert loss.item() == 0.0 and np.all(npy(x.grad) == 0)
    with pytest.raises(ValueError, match="blank must be in label range"):
        F.ctc_loss(lp, tgt, [2], [2], blank=3)
    with pytest.raises(ShapeError, match="input_lengths"):
        F.ctc_loss(lp, tgt, [3], [2])


def test_nll_loss_2d_alias():
    x = F.log_softmax(t64(RNG.standard_normal((2, 3, 4, 4))), 1)
    t = corefw.tensor(RNG.integers(0, 3, (2, 4, 4)))
    assert nn.NLLLoss2d()(x, t).item() == pytest.approx(F.nll_loss(x, t).item())
