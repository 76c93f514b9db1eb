"""``SyncBatchNorm``: batch normalisation whose statistics cover the batch of every rank."""

from __future__ import annotations

import corefw

from ...autograd import Function
from ..module import Module
from .normalization import _BatchNorm

__all__ = ["SyncBatchNorm"]


def _allreduce(t, group) -> None:
    from ...distributed import ReduceOp, all_reduce

    all_reduce(t, ReduceOp.SUM, group=group)


class _SyncBatchNormFn(Function):
    """Forward: mean and variance from sums all-reduced over the group (two passes, for
    accuracy). Backward (PyTorch's formula): sum(dy) and sum(dy * (x - mean)) all-reduced;
    weight and bias gradients stay local (DDP averages them)."""

    @staticmethod
    def forward(ctx, x, weight, bias, running, eps, momentum, group):
        dims = (0, *range(2, x.ndim))
        view = (1, -1) + (1,) * (x.ndim - 2)
        c = x.shape[1]
        stats = corefw.cat([x.sum(dims), corefw.full((1,), x.numel() // c, dtype=x.dtype)])
        _allreduce(stats, group)
        count = float(stats[c].item())
        mean = stats[:c] / count
        xmu = x - mean.reshape(view)
        sq = (xmu * xmu).sum(dims)
        _allreduce(sq, group)
        var = sq / count
        invstd = 1.0 / (var + eps).sqrt()
        if running is not None:  # a tuple, so that autograd does not record the buffers
            running_mean, running_var = running
            running_mean.mul_(1 - momentum).add_(mean * momentum)
            unbiased = var * (count / max(count - 1.0, 1.0))
            running_var.mul_(1 - momentum).add_(unbiased * momentum)
        y = xmu * invstd.reshape(view)
        if weight is not None:
            y = y * weight.reshape(view) + bias.reshape(view)
        ctx.save_for_backward(xmu, invstd, weight)
        ctx.count, ctx.group, ctx.dims, ctx.view = count, group, dims, view
        return y

    @staticmethod
    def backward(ctx, dy):
        xmu, invstd, weight = ctx.saved_tensors
        dims, view = ctx.dims, ctx.view
        c = xmu.shape[1]
        sum_dy = dy.sum(dims)
        sum_dy_xmu = (dy * xmu).sum(dims)
        grad_w = sum_dy_xmu * invstd if weight is not None else None
        grad_b = sum_dy if weight is not None else None
        both = corefw.cat([sum_dy, sum_dy_xmu])
        _allreduce(both, ctx.group)
        mean_dy = (both[:c] / ctx.count).reshape(view)
        mean_dy_xmu = (both[c:] / ctx.count).reshape(view)
        scale = invstd.reshape(view)
        if weight is not None:
            scale = scale * weight.reshape(view)
        dx = (dy - mean_dy - xmu * (invstd * invstd).reshape(view) * mean_dy_xmu) * scale
        return dx, grad_w, grad_b, None, None, None, None


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation over (N, C, ...) inputs whose training statistics are computed over
    the whole batch of every rank of ``process_group`` (default: the world), as PyTorch's.
    In eval mode, or without an initialized process group, it is plain batch norm. Convert a
    model's batch-norm layers with :meth:`convert_sync_batchnorm`."""

    _ranks = (2, 3, 4, 5)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None,
                 device=None, dtype=None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def forward(self, input):
        from ... import distributed as dist

        if not (self.training and dist.is_initialized()):
            return super().forward(input)
        self._check_input(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            with corefw.no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        group = dist._groups._group(self.process_group, "SyncBatchNorm")
        track = self.track_running_stats
        return _SyncBatchNormFn.apply(input, self.weight, self.bias,
                                      (self.running_mean, self.running_var) if track else None,
                                      self.eps, factor, group)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """Replace every ``BatchNorm*d`` in ``module`` (or ``module`` itself) by a
        SyncBatchNorm with the same parameters, buffers and settings; returns the result."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            with corefw.no_grad():
                if module.affine:
                    out.weight = module.weight
                    out.bias = module.bias
                if module.track_running_stats:
                    out.running_mean = module.running_mean
                    out.running_var = module.running_var
                    out.num_batches_tracked = module.num_batches_tracked
            out.train(module.training)
        for name, child in module.named_children():
            new = cls.convert_sync_batchnorm(child, process_group)
            if new is not child:
                setattr(out, name, new)
        return out
