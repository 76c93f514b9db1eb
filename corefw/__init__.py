"""corefw: an open, define-by-run deep-learning framework with pluggable backends.

The public API follows PyTorch's names, signatures and defaults. Backends, layer libraries
and explainers are plugins (see ``corefw plugins``); the core names none of them.
"""

from __future__ import annotations

from . import _dtype, errors
from ._creation import (  # noqa: E402
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from ._device import device, get_default_device, set_default_device
from ._dtype import (
    bfloat16,
    bool_,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    set_default_dtype,
    uint8,
)
from ._random import (  # noqa: E402
    Generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)
from ._tensor import Tensor
from .autograd import (  # noqa: E402
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .dispatch import (  # noqa: E402
    are_deterministic_algorithms_enabled,
    fallback_ledger,
    get_fallback_policy,
    print_fallback_ledger,
    reset_fallback_ledger,
    set_fallback_policy,
    use_deterministic_algorithms,
)
from .errors import CorefwError  # noqa: E402
from .plugins import manager as _plugin_manager  # noqa: E402,F401  (hands dispatch its loader)
from .ops import activation, elementwise, indexing, inplace, linalg, reduction, shape  # noqa: E402,F401,I001
from .ops import nn_conv, nn_norm, tensor_extras  # noqa: E402,F401,I001  (layer ops, methods)
from .ops.activation import log_softmax, softmax  # noqa: E402
from .ops.elementwise import *  # noqa: E402,F403
from .ops.indexing import (  # noqa: E402
    gather,
    index_select,
    masked_fill,
    masked_select,
    nonzero,
    scatter_add,
    take_along_dim,
)
from .ops.linalg import bmm, dot, einsum, matmul, mm, mv, outer  # noqa: E402
from .ops.reduction import *  # noqa: E402,F403
from .ops.shape import *  # noqa: E402,F403

from .ops.index_extra import *  # noqa: E402,F403
from .ops.linalg_extra import *  # noqa: E402,F403
from .ops.math_extra import *  # noqa: E402,F403
from .ops.reduce_extra import *  # noqa: E402,F403
from .ops.shape_extra import *  # noqa: E402,F403
from .ops.sorting import *  # noqa: E402,F403
from .ops.tensor_api import TENSOR_TYPES as _TENSOR_TYPES  # noqa: E402
from ._dtype import finfo, iinfo  # noqa: E402
from ._tensor import Size  # noqa: E402

globals().update(_TENSOR_TYPES)  # FloatTensor, LongTensor ... (PyTorch's legacy types)

from .ops import linalg_torch as linalg  # noqa: E402,F811  (torch.linalg, not ops.linalg)

from .ops import special  # noqa: E402  (torch.special)
from .ops.aliases import *  # noqa: E402,F403
from .ops.special import digamma, erfinv, lgamma  # noqa: E402
from .ops import parity_inplace  # noqa: E402,F401  (PyTorch's further in-place methods)
from .ops.parity_math import *  # noqa: E402,F403
from .ops.parity_shape import *  # noqa: E402,F403
from .ops.parity_shape import layout, strided  # noqa: E402
from .ops.parity_tensor import *  # noqa: E402,F403
from .ops.indexing import index_put  # noqa: E402
from .ops.pointwise import clip  # noqa: E402
from .ops.tensor_extras import t  # noqa: E402
from .ops.linalg import outer as ger  # noqa: E402
from .autograd import is_anomaly_enabled, is_inference_mode_enabled  # noqa: E402
from .autograd import set_detect_anomaly as _set_detect_anomaly  # noqa: E402


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """``torch.set_anomaly_enabled``: :func:`corefw.autograd.set_detect_anomaly`."""
    _set_detect_anomaly(enabled)


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly mode checks gradients for NaN (always, while it is on)."""
    return is_anomaly_enabled()

__import__("sys").modules.setdefault("corefw.linalg", linalg)
__import__("sys").modules.setdefault("corefw.special", special)

from ._version import __version__  # noqa: E402
from ._out import install as _install_out  # noqa: E402

_install_out(globals())  # PyTorch's out= on the functions that have it (corefw/_out.py)

# PyTorch's dtype aliases (defined last: they shadow builtins inside this module only)
globals().update({"bool": bool_, "float": float32, "double": float64, "half": float16,
                  "long": int64, "int": int32, "short": int16})



def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(input) -> int:
    return input.numel()


def layers() -> dict:
    """Registered layer classes by name (builtin and from plugins)."""
    from .plugins import manager

    manager.load()
    return dict(manager.LAYERS)


def explainers() -> dict:
    """Registered explainers by name (from plugins such as corefw-xai)."""
    from .plugins import manager

    manager.load()
    return dict(manager.EXPLAINERS)


def __getattr__(name):
    if name in ("nn", "optim", "data", "autograd", "testing", "plugins", "backend", "utils",
                "cuda", "accelerator", "backends", "distributed", "compiler"):
        import importlib

        return importlib.import_module(f"corefw.{name}")
    if name in ("set_num_threads", "get_num_threads"):
        from .backend import threads

        return getattr(threads, name)
    if name == "compile":  # corefw.compile(fn): see corefw.compiler
        from .compiler import compile

        return compile
    if not name.startswith("_"):  # torch.conv2d, torch.layer_norm ...: the layer functions
        import importlib

        _torch_level = importlib.import_module("corefw.nn.functional._torch_level")
        if name in _torch_level.NAMES:
            return getattr(_torch_level, name)
    if name in ("save", "load"):
        from . import serialization

        return getattr(serialization, name)
    raise AttributeError(f"module 'corefw' has no attribute {name!r}")
