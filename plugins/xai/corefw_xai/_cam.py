"""Grad-CAM++ and Score-CAM (neither is in Captum)."""

from __future__ import annotations

import numpy as np

import corefw
from corefw import Tensor

from ._core import Explanation, as_tuple, expand_args, format_baselines, take_rows
from ._layer import _args, _LayerBase, capture, interpolate
from ._targets import TargetSet
from .errors import XaiError

__all__ = ["GradCamPlusPlus", "ScoreCam"]


def gradcam_pp_map(act: Tensor, grad: Tensor, eps: float = 1e-7) -> Tensor:
    """Grad-CAM++ (Chattopadhay et al. 2018) for activations (B, C, h, w):
    ``alpha = g^2 / (2 g^2 + sum(A) g^3)``, ``w_c = sum alpha relu(g)``, map
    ``relu(sum_c w_c A_c)`` (the closed form with an exponential output, as in the paper and
    pytorch-grad-cam)."""
    dims = tuple(range(2, act.ndim))
    g2 = grad * grad
    g3 = g2 * grad
    total = act.sum(dims, keepdim=True)
    alpha = g2 / (2 * g2 + total * g3 + eps)
    alpha = corefw.where(grad != 0, alpha, 0.0)
    weights = (alpha * grad.relu()).sum(dims, keepdim=True)
    return (weights * act).sum(1, keepdim=True).relu()


class GradCamPlusPlus(_LayerBase):
    """Grad-CAM++: pixel-weighted gradients, better for several instances of a class.
    Maps of shape (B, 1, *layer spatial dims)."""

    name = "grad_cam_plus_plus"

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  attribute_to_layer_input: bool = False, *, targets=None) -> Explanation:
        """Grad-CAM++ maps for the target(s)."""
        self.start()
        xs, _ = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        act, grads, _ = self.layer_gradients(xs, np.arange(batch),
                                             _args(additional_forward_args), ts,
                                             attribute_to_layer_input)
        if act.ndim < 3:
            raise XaiError(f"grad_cam_plus_plus: the layer output has shape "
                           f"{tuple(act.shape)}; it needs spatial dims (B, C, h, w)")
        cams = corefw.stack([gradcam_pp_map(act, g) for g in grads], 0)
        return self.result([cams], False, ts, params={})


class ScoreCam(_LayerBase):
    """Score-CAM (Wang et al. 2020): each channel of the layer's activation, upsampled to the
    input and scaled to [0, 1], masks the input; the channel's weight is the target's score on
    the masked input minus the score at the baseline (``weights="cic"``, the paper) or the
    softmax of the scores over channels (``weights="softmax"``, pytorch-grad-cam). Map
    ``relu(sum_c w_c A_c)`` of shape (B, 1, h, w). ``batch_size`` masked inputs per call."""

    name = "score_cam"

    def attribute(self, inputs, target=None, baselines=None, additional_forward_args=None,
                  batch_size: int = 64, weights: str = "cic",
                  interpolate_mode: str = "bilinear", *, targets=None) -> Explanation:
        """Score-CAM maps for the target(s); inputs (B, C, H, W)."""
        if weights not in ("cic", "softmax"):
            raise ValueError(f"score_cam: weights must be 'cic' or 'softmax', got {weights!r}")
        self.start()
        xs, _ = as_tuple(inputs)
        x = xs[0]
        if len(xs) != 1 or x.ndim != 4:
            raise XaiError(f"score_cam: needs one input of shape (B, C, H, W), got "
                           f"{[tuple(t.shape) for t in xs]}")
        batch = x.shape[0]
        ts = TargetSet(target, batch, targets)
        args = _args(additional_forward_args)
        base = format_baselines(baselines, xs)[0]
        rows = np.arange(batch)
        with corefw.no_grad():
            with capture(self.layer) as box:
                self.forward(xs, args)
            act = box["value"]
            f_base = ts.select_all(self.forward((base,), args), rows)
            masks = interpolate(act, tuple(x.shape[2:]), interpolate_mode)  # B, C, H, W
            lo = masks.amin((2, 3), keepdim=True)
            hi = masks.amax((2, 3), keepdim=True)
            span = hi - lo
            masks = corefw.where(span > 0, (masks - lo) / corefw.where(span > 0, span, 1.0),
                                 0.0)
            n_ch = act.shape[1]
            ex = np.repeat(rows, n_ch)  # example-major: row = e * C + c
            flat_masks = masks.reshape(batch * n_ch, 1, *x.shape[2:])
            scores = []
            for s in range(0, batch * n_ch, max(1, batch_size)):
                r = np.arange(s, min(batch * n_ch, s + batch_size))
                m = take_rows(flat_masks, r)
                xe, be = take_rows(x, ex[r]), take_rows(base, ex[r])
                out = self.forward((be + m * (xe - be),), expand_args(args, ex[r], batch))
                scores.append(ts.select_all(out, ex[r]))
            score = corefw.cat(scores, 1).reshape(len(ts), batch, n_ch)
            if weights == "cic":
                w = score - f_base.unsqueeze(2)
            else:
                w = corefw.softmax(score, 2)
            cams = (w.reshape(len(ts), batch, n_ch, 1, 1) * act.unsqueeze(0)).sum(
                2, keepdim=True).relu()
        return self.result([cams], False, ts,
                           params={"batch_size": batch_size, "weights": weights,
                                   "interpolate_mode": interpolate_mode})

