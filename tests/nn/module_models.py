"""Small modules shared by the Module tests (test_module, test_module_state, test_containers):
``Affine`` (Parameters and tensor ops only), ``Norm`` (persistent and non-persistent buffers),
``Net`` (nested, with a Sequential)."""

import numpy as np

import corefw
from corefw import nn

__all__ = ["NET_KEYS", "Affine", "Net", "Norm", "np_of", "snapshot"]


def np_of(t):
    return np.array(t.detach().cpu().numpy(), dtype=np.float64)


class Affine(nn.Module):
    """y = x @ W.T + b, from Parameters and tensor ops only."""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.weight = nn.Parameter(corefw.randn(n_out, n_in))
        self.bias = nn.Parameter(corefw.randn(n_out)) if bias else None

    def forward(self, x):
        y = x @ self.weight.transpose(0, 1)
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return f"n_in={self.n_in}, n_out={self.n_out}"


class Norm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(corefw.ones(n))
        self.register_buffer("running_mean", corefw.zeros(n))
        self.register_buffer("num_batches_tracked", corefw.tensor(0, dtype=corefw.int64))
        self.register_buffer("cache", corefw.zeros(n), persistent=False)

    def forward(self, x):
        return (x - self.running_mean) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = Affine(4, 3)
        self.bn = Norm(3)
        self.head = nn.Sequential(Affine(3, 2), Affine(2, 2, bias=False))

    def forward(self, x):
        return self.head(self.bn(self.fc(x)))


NET_KEYS = ["fc.weight", "fc.bias", "bn.scale", "bn.running_mean", "bn.num_batches_tracked",
            "head.0.weight", "head.0.bias", "head.1.weight"]


def snapshot(model):
    return {k: np_of(v).copy() for k, v in model.state_dict().items()}
