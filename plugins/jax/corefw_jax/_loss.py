"""Native ``cross_entropy`` and ``nll_loss`` kernels on ``jax.numpy``.

corefw declares both as composites over class indices (input ``(M, C)``, target ``(M,)``,
optional class weights ``(C,)``; corefw/ops/nn_loss.py). Their decompositions pick the target's
log-probability with ``gather``, whose front end reads the indices' range in Python: on a lazy
backend a sync per call, and under ``corefw.compile(backend="jax")`` a value ``jax.jit``
cannot read, so every classifier's training step fell back to replay. Here each loss is one
kernel, written as the decomposition is (the same formulas, in the same order, so the same
rounding in float16); the backend checks the targets' range around it (``backend.py``), after
the call under the jit. The VJPs stay the core's closed forms.
"""

from __future__ import annotations

__all__ = ["loss_kernels"]


def loss_kernels(jnp) -> dict:
    """The kernels, over the ``jax.numpy`` module ``jnp``."""

    def sample_weights(target, weight, ignore_index, dtype):
        keep = target != ignore_index
        safe = jnp.where(keep, target, 0)
        w = keep.astype(dtype) if weight is None else jnp.where(keep, weight[safe], 0)
        return safe, w.astype(dtype), keep

    def reduce(per_sample, w, reduction):
        if reduction == "none":
            return per_sample
        total = jnp.sum(per_sample)
        return total if reduction == "sum" else total / jnp.sum(w)

    def nll_loss(logp, target, weight, ignore_index, reduction):
        safe, w, _ = sample_weights(target, weight, ignore_index, logp.dtype)
        picked = jnp.take_along_axis(logp, safe[:, None], axis=1)[:, 0]
        return reduce(-picked * w, w, reduction)

    def cross_entropy(x, target, weight, ignore_index, label_smoothing, reduction):
        s = x - jnp.max(x, axis=1, keepdims=True)  # the toolkit's log_softmax
        logp = s - jnp.log(jnp.sum(jnp.exp(s), axis=1, keepdims=True))
        nll = nll_loss(logp, target, weight, ignore_index, reduction)
        if not label_smoothing:
            return nll
        _, w, keep = sample_weights(target, weight, ignore_index, x.dtype)
        smooth = -jnp.sum(logp * weight, 1) if weight is not None else -jnp.sum(logp, 1)
        smooth = reduce(jnp.where(keep, smooth, 0.0), w, reduction)
        return (1 - label_smoothing) * nll + smooth * (label_smoothing / x.shape[1])

    return {"nll_loss": nll_loss, "cross_entropy": cross_entropy}
