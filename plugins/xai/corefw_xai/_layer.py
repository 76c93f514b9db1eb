"""Layer methods: LayerActivation, LayerGradCam, GuidedGradCam, LayerIntegratedGradients.

A layer is a ``corefw.nn.Module`` inside the model (or its name in ``model.named_modules()``).
Its output (or input, with ``attribute_to_layer_input=True``) is captured by a forward hook
that is removed when the call ends, also after an exception. The layer must run once per
forward pass.
"""

from __future__ import annotations

import contextlib

import numpy as np

import corefw
from corefw import Tensor

from ._blocks import block_rows, blocks, fold
from ._core import (
    Attribution,
    Explanation,
    as_tuple,
    default_rows,
    expand_args,
    format_baselines,
    frozen_parameters,
    take_rows,
)
from ._gradient import integration_points
from ._targets import TargetSet
from .errors import XaiError

__all__ = ["GuidedGradCam", "LayerActivation", "LayerGradCam", "LayerIntegratedGradients",
           "capture", "interpolate"]


def _args(a) -> tuple:
    return () if a is None else (tuple(a) if isinstance(a, tuple) else (a,))


def resolve_layer(model, layer):
    """The module ``layer`` (a module, or a name in ``model.named_modules()``)."""
    if isinstance(layer, str):
        named = dict(model.named_modules()) if hasattr(model, "named_modules") else {}
        if layer not in named:
            raise XaiError(f"layer {layer!r} is not a submodule of the model; names: "
                           f"{', '.join(n for n in named if n) or '(none)'}")
        return named[layer]
    if not hasattr(layer, "register_forward_hook"):
        raise TypeError(f"layer must be a corefw.nn.Module or its name, got "
                        f"{type(layer).__name__}")
    return layer


@contextlib.contextmanager
def capture(layer, to_input: bool = False, replace=None):
    """Record the layer's output (or first input) in ``box["value"]``; with ``replace``, the
    layer's output (input) is replaced by ``replace(value)``. The hook is removed on exit."""
    box: dict = {"value": None, "calls": 0}

    def remember(value):
        box["calls"] += 1
        if box["calls"] > 1:
            raise XaiError(f"the layer {type(layer).__name__} ran more than once in one "
                           f"forward pass; layer attribution needs a layer used once (wrap "
                           f"each use in its own module)")
        if replace is not None:
            value = replace(value)
        box["value"] = value
        return value

    if to_input:
        def pre_hook(module, args):
            new = remember(args[0])
            return (new,) + tuple(args[1:]) if replace is not None else None
        handle = layer.register_forward_pre_hook(pre_hook)
    else:
        def hook(module, args, output):
            new = remember(output)
            return new if replace is not None else None
        handle = layer.register_forward_hook(hook)
    try:
        yield box
    finally:
        handle.remove()


def interpolate(t: Tensor, size: tuple[int, int], mode: str = "nearest") -> Tensor:
    """Resize the last two dims of ``t`` to ``size`` (PyTorch's ``nearest`` and ``bilinear``
    with ``align_corners=False``), as two matrix products (differentiable, any device)."""
    def matrix(n_in, n_out):
        m = np.zeros((n_out, n_in))
        if mode == "nearest":
            src = np.minimum(np.floor(np.arange(n_out) * (n_in / n_out)).astype(int), n_in - 1)
            m[np.arange(n_out), src] = 1.0
        elif mode == "bilinear":
            src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
            i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
            i1 = np.minimum(i0 + 1, n_in - 1)
            lam = src - i0
            np.add.at(m, (np.arange(n_out), i0), 1 - lam)
            np.add.at(m, (np.arange(n_out), i1), lam)
        else:
            raise ValueError(f"interpolate: mode must be 'nearest' or 'bilinear', got {mode!r}")
        return corefw.tensor(m, dtype=t.dtype, device=t.device)

    h, w = t.shape[-2:]
    return matrix(h, size[0]) @ t @ matrix(w, size[1]).T


class _LayerBase(Attribution):
    def __init__(self, model, layer) -> None:
        super().__init__(model)
        self.layer = resolve_layer(model, layer)

    def layer_gradients(self, xs, rows, args, ts, to_input=False):
        """(activation, per-target gradients w.r.t. it, target values) at rows ``xs``."""
        from ._layer2 import act_gradients

        return act_gradients(self, xs, rows, args, ts, to_input)


class LayerActivation(_LayerBase):
    """The activation of a layer (no target)."""

    name = "layer_activation"

    def attribute(self, inputs, additional_forward_args=None,
                  attribute_to_layer_input: bool = False) -> Explanation:
        """The layer's output (input) for ``inputs``."""
        self.start()
        xs, _ = as_tuple(inputs)
        with corefw.no_grad(), capture(self.layer, attribute_to_layer_input) as box:
            self.forward(xs, _args(additional_forward_args))
        ts = TargetSet(None, xs[0].shape[0])
        return self.result([box["value"].unsqueeze(0)], False, ts,
                           params={"attribute_to_layer_input": attribute_to_layer_input})


def gradcam_map(act: Tensor, grad: Tensor, relu: bool, summation: bool = True) -> Tensor:
    """Grad-CAM from an activation (B, C, ...) and its gradient: channel weights are the
    gradient's spatial mean (the gradient itself for a (B, C) activation)."""
    if act.ndim > 2:
        weights = grad.mean(tuple(range(2, grad.ndim)), keepdim=True)
    else:
        weights = grad
    cam = weights * act
    if summation:
        cam = cam.sum(1, keepdim=True)
    return cam.relu() if relu else cam


class LayerGradCam(_LayerBase):
    """Grad-CAM (Selvaraju et al. 2017): ``sum_c mean(dF/dA_c) A_c`` at the layer.

    ``relu_attributions=False`` is Captum's default; the published Grad-CAM applies the ReLU
    (``relu_attributions=True``). On conv -> global average pool -> linear it equals the class
    activation map divided by the number of spatial positions.
    """

    name = "layer_grad_cam"

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  attribute_to_layer_input: bool = False, relu_attributions: bool = False,
                  attr_dim_summation: bool = True, *, targets=None) -> Explanation:
        """Grad-CAM maps of shape (B, 1, *layer spatial dims)."""
        self.start()
        xs, _ = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        act, grads, _ = self.layer_gradients(xs, np.arange(batch),
                                             _args(additional_forward_args), ts,
                                             attribute_to_layer_input)
        cams = corefw.stack([gradcam_map(act, g, relu_attributions, attr_dim_summation)
                             for g in grads], 0)
        return self.result([cams], False, ts,
                           params={"relu_attributions": relu_attributions,
                                   "attr_dim_summation": attr_dim_summation,
                                   "attribute_to_layer_input": attribute_to_layer_input})


class GuidedGradCam(_LayerBase):
    """Guided Grad-CAM: guided backprop times the Grad-CAM map (with ReLU) upsampled to the
    input's spatial size (``interpolate_mode``), for (B, C, H, W) inputs."""

    name = "guided_grad_cam"

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  interpolate_mode: str = "nearest", attribute_to_layer_input: bool = False,
                  *, targets=None) -> Explanation:
        """Elementwise product of guided backprop and the upsampled Grad-CAM."""
        from ._deeplift import GuidedBackprop

        xs, is_tuple = as_tuple(inputs)
        for i, x in enumerate(xs):
            if x.ndim != 4:
                raise XaiError(f"guided_grad_cam: input {i} has shape {tuple(x.shape)}; it "
                               f"needs (batch, channels, height, width)")
        cam = LayerGradCam(self.model, self.layer).attribute(
            inputs, target, additional_forward_args, attribute_to_layer_input,
            relu_attributions=True, targets=targets)
        gbp = GuidedBackprop(self.model).attribute(inputs, target, additional_forward_args,
                                                   targets=targets)
        self._evals = cam.n_evals + gbp.n_evals
        g = gbp.attributions if is_tuple else (gbp.attributions,)
        c = cam.attributions
        out = [gi * interpolate(c, tuple(x.shape[2:]), interpolate_mode)
               for gi, x in zip(g, xs)]
        ts = TargetSet(target, xs[0].shape[0], targets)
        if not ts.multi:
            out = [o.unsqueeze(0) for o in out]
        return self.result(out, is_tuple, ts, params={"interpolate_mode": interpolate_mode})


class LayerIntegratedGradients(_LayerBase):
    """Integrated gradients with respect to a layer's output (input): the activation is moved
    along the straight path from its value at the baselines to its value at the inputs.

    ``delta = sum(phi) - (F(x) - F(x'))`` holds when everything the output depends on passes
    through the layer.
    """

    name = "layer_integrated_gradients"

    def __init__(self, model, layer, multiply_by_inputs: bool = True) -> None:
        super().__init__(model, layer)
        self.multiply_by_inputs = multiply_by_inputs

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  n_steps: int = 50, method: str = "gausslegendre",
                  internal_batch_size: int | None = None,
                  return_convergence_delta: bool = True,
                  attribute_to_layer_input: bool = False, *, targets=None,
                  integration: str | None = None) -> Explanation:
        """Layer attributions of shape (B, *layer activation dims)."""
        method = integration or method
        alphas, weights = integration_points(method, n_steps)
        self.start()
        xs, _ = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        args = _args(additional_forward_args)
        bs = format_baselines(baselines, xs)
        rows = np.arange(batch)
        with corefw.no_grad(), capture(self.layer, attribute_to_layer_input) as box:
            f_x = ts.select_all(self.forward(xs, args), rows)
            a_x = box["value"]
            box["calls"] = 0
            f_b = ts.select_all(self.forward(bs, args), rows)
            a_b = box["value"]
        diff = a_x - a_b
        cap = internal_batch_size or default_rows(xs, batch, n_steps)
        sums: dict[int, Tensor] = {}
        for e0, e1, s0, s1 in blocks(batch, n_steps, cap):
            ex, st = block_rows(e0, e1, s0, s1)
            shape = (-1,) + (1,) * (diff.ndim - 1)
            col = corefw.tensor(alphas[st].reshape(shape), dtype=diff.dtype, device=diff.device)
            act = (take_rows(a_b, ex) + col * take_rows(diff, ex)).detach().requires_grad_()
            xs_rows = tuple(take_rows(x, ex) for x in xs)
            with corefw.enable_grad(), frozen_parameters(self.model), \
                    capture(self.layer, attribute_to_layer_input, replace=lambda _, a=act: a):
                out = self.forward(xs_rows, expand_args(args, ex, batch))
                values = [ts.select(k, out, ex) for k in range(len(ts))]
                grads = [corefw.autograd.grad(v.sum(), act, retain_graph=k < len(values) - 1,
                                              allow_unused=True, materialize_grads=True)[0]
                         for k, v in enumerate(values)]
            w = corefw.tensor(weights[st].reshape(shape), dtype=diff.dtype, device=diff.device)
            g = corefw.stack([gk.detach() * w for gk in grads], 0)
            part = fold(g, s1 - s0, e1 - e0).sum(1)
            sums[e0] = part if e0 not in sums else sums[e0] + part
        avg = corefw.cat([sums[e0] for e0 in sorted(sums)], 1)
        glob = avg * diff.unsqueeze(0)
        total = glob.reshape(glob.shape[0], batch, -1).sum(2)
        delta = total - (f_x - f_b)
        return self.result([glob if self.multiply_by_inputs else avg], False, ts, delta=delta,
                           params={"n_steps": n_steps, "method": method,
                                   "internal_batch_size": internal_batch_size,
                                   "attribute_to_layer_input": attribute_to_layer_input})
