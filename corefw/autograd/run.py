"""``backward`` and ``grad``: argument checking around the engine."""

from __future__ import annotations

from .._graph.engine import run_backward
from .._registry import publish
from .._tensor import Tensor, wrap
from ..errors import AutogradError


def _as_list(x):
    if x is None:
        return None
    return [x] if isinstance(x, Tensor) else list(x)


def _root_grads(outputs, grad_outputs, create_graph):
    grads = []
    for i, out in enumerate(outputs):
        g = grad_outputs[i] if grad_outputs is not None else None
        if g is None:
            if out.numel() != 1:
                raise AutogradError(
                    f"grad can be implicitly created only for scalar outputs; output {i} has "
                    f"shape {out.shape}: pass a gradient of that shape (e.g. "
                    f"out.backward(corefw.ones_like(out))) or reduce it first (out.sum())")
            g = wrap(out._dev.table["full"](out._data.shape, 1, dtype=out._data.dtype),
                     out._dev)
        elif tuple(g.shape) != tuple(out.shape):
            raise AutogradError(f"mismatch in shape: grad_output[{i}] has shape "
                                f"{tuple(g.shape)} and output[{i}] has shape {out.shape}")
        elif g._dev is not out._dev:
            from ..errors import DeviceError

            raise DeviceError(f"grad_output[{i}] is on {g._dev} but output[{i}] is on "
                              f"{out._dev}; move it with .to({str(out._dev)!r})")
        elif not create_graph:
            g = g.detach()
        grads.append(g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             inputs=None) -> None:
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of the leaves (or of
    ``inputs`` only)."""
    outputs = _as_list(tensors)
    grads = _root_grads(outputs, _as_list(grad_tensors), create_graph)
    retain = create_graph if retain_graph is None else retain_graph
    for out in outputs:
        if not out._req:
            raise AutogradError("element 0 of tensors does not require grad and does not have "
                                "a grad_fn")
    if inputs is not None:
        inputs = _as_list(inputs)
        found = run_backward(outputs, grads, retain_graph=retain, create_graph=create_graph,
                             inputs=inputs)
        from .._graph.engine import _accumulate

        for t, g in zip(inputs, found):
            if g is not None:
                _accumulate(t, g, create_graph)
        return
    run_backward(outputs, grads, retain_graph=retain, create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs`` (a tuple), without touching
    ``.grad``. Unused inputs raise unless ``allow_unused`` (then None, or zeros with
    ``materialize_grads``)."""
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    for i, t in enumerate(ins):
        if not t._req:
            raise AutogradError(f"grad: input {i} does not require grad; set "
                                f"requires_grad=True on it before computing the outputs")
    grads = _root_grads(outs, _as_list(grad_outputs), create_graph)
    retain = create_graph if retain_graph is None else retain_graph
    found = run_backward(outs, grads, retain_graph=retain, create_graph=create_graph,
                         inputs=ins)
    result = []
    for i, (t, g) in enumerate(zip(ins, found)):
        if g is None:
            if materialize_grads:
                from .._creation import zeros_like

                g = zeros_like(t)
            elif not allow_unused:
                raise AutogradError(f"grad: input {i} was not used in the graph of the "
                                    f"outputs; pass allow_unused=True if this is expected")
        result.append(g)
    return tuple(result)


publish(globals(), ["backward"])  # Tensor.backward calls it
