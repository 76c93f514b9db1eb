"""The deciding sanity check (Adebayo et al. 2018) on the trained digits CNN fixture."""

from __future__ import annotations

import numpy as np
import pytest
from corefw_xai import sanity


def test_gradient_passes_and_guided_backprop_is_flagged(digits_cnn):
    model, x, y = digits_cnn
    before = [p.detach().clone().numpy() for p in model.parameters()]
    rep = sanity.sanity_check(model, ["saliency", "guided_backprop", "input_x_gradient"], x, y)
    assert rep["saliency"].passed and rep["saliency"].vs_randomised < 0.25
    assert not rep["guided_backprop"].passed
    text = rep.summary()
    assert "PASS" in text and "FAIL" in text and "< 0.50" in text and "non-zero" in text
    for p, b in zip(model.parameters(), before):  # weights restored
        np.testing.assert_array_equal(p.detach().numpy(), b)
    # the tie artefact: over all pixels, zeros tie and input x gradient looks unchanged
    ties = sanity.sanity_check(model, ["input_x_gradient"], x, y, restrict_to_nonzero=False)
    assert ties["input_x_gradient"].vs_randomised > 0.8
    assert rep["input_x_gradient"].vs_randomised < ties["input_x_gradient"].vs_randomised - 0.3


@pytest.mark.parametrize("seed", [1, 4])
def test_the_verdicts_do_not_hang_on_the_random_draw(digits_cnn, seed):
    model, x, y = digits_cnn
    rep = sanity.sanity_check(model, ["saliency", "guided_backprop"], x, y, seed=seed)
    assert rep["saliency"].passed and not rep["guided_backprop"].passed, rep.summary()
    assert len(rep["saliency"].cascade) == 3  # logits, conv 2, conv 1 randomised in turn
    assert rep["saliency"].vs_randomised == pytest.approx(np.mean(rep["saliency"].cascade))


def test_ssim_measure_and_an_explicit_untrained_model(digits_cnn):
    from xai_models import build_digits_cnn

    import corefw

    model, x, y = digits_cnn
    corefw.manual_seed(3)
    fresh = build_digits_cnn()
    rep = sanity.sanity_check(model, ["saliency", "guided_backprop"], x[:16], y[:16],
                              untrained=fresh, measure="ssim", threshold=0.4)
    assert rep["saliency"].passed and not rep["guided_backprop"].passed
    assert rep["saliency"].threshold == 0.4 and "ssim" in rep.summary()


def test_ssim_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.random((9, 9))
    assert sanity.ssim(a, a) == pytest.approx(1.0)
    # constant maps: only the luminance term remains, (2 m1 m2 + c1) / (m1^2 + m2^2 + c1)
    c1 = 0.01 ** 2
    want = (2 * 0.2 * 0.6 + c1) / (0.2 ** 2 + 0.6 ** 2 + c1)
    assert sanity.ssim(np.full((7, 7), 0.2), np.full((7, 7), 0.6)) == pytest.approx(want)
    # one 3x3 window by hand (sample covariances)
    p, q = rng.random((3, 3)), rng.random((3, 3))
    mp, mq = p.mean(), q.mean()
    vp, vq = p.var(ddof=1), q.var(ddof=1)
    cpq = ((p - mp) * (q - mq)).sum() / 8
    c2 = 0.03 ** 2
    hand = (2 * mp * mq + c1) * (2 * cpq + c2) / ((mp ** 2 + mq ** 2 + c1) * (vp + vq + c2))
    assert sanity.ssim(p, q) == pytest.approx(hand, rel=1e-12)


def test_bad_measure(digits_cnn):
    model, x, y = digits_cnn
    with pytest.raises(ValueError, match="measure"):
        sanity.sanity_check(model, "saliency", x, y, measure="pearson")
