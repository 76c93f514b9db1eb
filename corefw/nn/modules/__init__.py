"""The standard layer library: every layer class, also importable as ``corefw.nn.<Name>``.

Each family lives in its own module (``linear``, ``activation``, ``conv``, ``pooling``,
``normalization``, ``dropout``, ``sparse``, ``flatten``, ``attention``, ``transformer``,
``rnn``, ``loss``; ``activation_more``, ``loss_more``, ``norm_more``, ``vision``,
``conv_more``, ``extra``, ``adaptive``, ``lazy``) with its own ``__all__``; this package re-exports
them all, and the builtin layer plugin (:mod:`corefw.nn._plugin`) registers every name in
``__all__`` in the layer catalogue (``corefw.layers()``).
"""

from __future__ import annotations

from .activation import *  # noqa: F403
from .activation import __all__ as _activation_all
from .attention import *  # noqa: F403
from .attention import __all__ as _attention_all
from .dropout import *  # noqa: F403
from .dropout import __all__ as _dropout_all
from .flatten import *  # noqa: F403
from .flatten import __all__ as _flatten_all
from .linear import *  # noqa: F403
from .linear import __all__ as _linear_all
from .loss import *  # noqa: F403
from .loss import __all__ as _loss_all
from .rnn import *  # noqa: F403
from .rnn import __all__ as _rnn_all
from .sparse import *  # noqa: F403
from .sparse import __all__ as _sparse_all
from .transformer import *  # noqa: F403
from .transformer import __all__ as _transformer_all
from .activation_more import *  # noqa: F403
from .activation_more import __all__ as _activation_more_all
from .loss_more import *  # noqa: F403
from .loss_more import __all__ as _loss_more_all
from .norm_more import *  # noqa: F403
from .norm_more import __all__ as _norm_more_all
from .vision import *  # noqa: F403
from .vision import __all__ as _vision_all
from .conv_more import *  # noqa: F403
from .conv_more import __all__ as _conv_more_all
from .extra import *  # noqa: F403
from .extra import __all__ as _extra_all
from .adaptive import *  # noqa: F403
from .adaptive import __all__ as _adaptive_all
from .lazy import *  # noqa: F403
from .lazy import __all__ as _lazy_all


def _missing(exc: ModuleNotFoundError, name: str) -> list[str]:
    """``[]`` when ``exc`` says that this package's module ``name`` itself does not exist (yet);
    otherwise re-raise: an error inside an existing module must not look like an absent one."""
    if exc.name != f"{__name__}.{name}":
        raise exc
    return []


try:
    from .conv import *  # noqa: F403
    from .conv import __all__ as _conv_all
except ModuleNotFoundError as _e:
    _conv_all = _missing(_e, "conv")
try:
    from .pooling import *  # noqa: F403
    from .pooling import __all__ as _pooling_all
except ModuleNotFoundError as _e:
    _pooling_all = _missing(_e, "pooling")
try:
    from .normalization import *  # noqa: F403
    from .normalization import __all__ as _normalization_all
except ModuleNotFoundError as _e:
    _normalization_all = _missing(_e, "normalization")
try:
    from .sync_batchnorm import *  # noqa: F403
    from .sync_batchnorm import __all__ as _sync_batchnorm_all
except ModuleNotFoundError as _e:
    _sync_batchnorm_all = _missing(_e, "sync_batchnorm")

__all__ = [name for group in (
    _linear_all, _conv_all, _pooling_all, _normalization_all, _activation_all, _dropout_all,
    _sparse_all, _flatten_all, _attention_all, _transformer_all, _rnn_all, _loss_all,
    _sync_batchnorm_all, _activation_more_all, _loss_more_all, _norm_more_all, _vision_all,
    _conv_more_all, _extra_all, _adaptive_all, _lazy_all,
) for name in group]
