"""Helpers of :class:`corefw.nn.Module` kept out of module.py: hook handles and the hooked
call, state_dict checking, ``to()`` argument parsing."""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

import corefw
from corefw import Tensor
from corefw._dtype import dtype as _DType
from corefw._dtype import to_dtype
from corefw.errors import StateDictError

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods; ``handle.remove()`` unregisters the hook.

    Also a context manager: the hook is removed when the ``with`` block ends.
    """

    _next_id = 0

    def __init__(self, hooks_dict: OrderedDict, *, extra_dict: Any = None) -> None:
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        extras = extra_dict if isinstance(extra_dict, (list, tuple)) else [extra_dict]
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras if d is not None)

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None and self.id in d:
                del d[self.id]

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """``load_state_dict``'s result: ``(missing_keys, unexpected_keys)``, both lists of str."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def addindent(s: str, num_spaces: int) -> str:
    """Indent every line of ``s`` but the first (nested reprs)."""
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * num_spaces + line for line in lines[1:])


def check_name(kind: str, name: object) -> None:
    """Validate a parameter/buffer/module name as PyTorch does."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got: {name}')


def _call_hook(module: Any, hook_id: int, hook: Any, args: tuple, kwargs: dict,
               result: Any) -> Any:
    if hook_id in module._forward_hooks_with_kwargs:
        out = hook(module, args, kwargs, result)
    else:
        out = hook(module, args, result)
    return result if out is None else out


def run_hooked_forward(module: Any, args: tuple, kwargs: dict) -> Any:
    """Forward pre-hooks, ``forward``, forward hooks (always-call ones also when it raises)."""
    result = None
    called: set[int] = set()
    try:
        for hook_id, hook in list(module._forward_pre_hooks.items()):
            if hook_id in module._forward_pre_hooks_with_kwargs:
                out = hook(module, args, kwargs)
                if out is not None:
                    if not (isinstance(out, tuple) and len(out) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {out!r}.")
                    args, kwargs = out
            else:
                out = hook(module, args)
                if out is not None:
                    args = out if isinstance(out, tuple) else (out,)
        result = module.forward(*args, **kwargs)
        for hook_id, hook in list(module._forward_hooks.items()):
            if hook_id in module._forward_hooks_always_called:
                called.add(hook_id)
            result = _call_hook(module, hook_id, hook, args, kwargs, result)
    except Exception:
        for hook_id, hook in list(module._forward_hooks.items()):
            if hook_id not in module._forward_hooks_always_called or hook_id in called:
                continue
            try:
                result = _call_hook(module, hook_id, hook, args, kwargs, result)
            except Exception as e:  # the original error is the one to report
                warnings.warn("forward hook with always_call=True raised an exception that was "
                              f"silenced as another error was raised in forward: {e}",
                              stacklevel=3)
        raise
    return result


def _to_tensor_value(value: object) -> Tensor | None:
    """A state_dict value as a Tensor (NumPy arrays accepted), or None if it is neither."""
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, (np.ndarray, np.generic)):
        return corefw.tensor(np.asarray(value))
    return None


def _quoted(keys: list[str]) -> str:
    return ", ".join(f'"{k}"' for k in keys)


def plan_load(entries: Iterable[tuple[str, Any, str, Tensor]], state_dict: Mapping[str, Any],
              strict: bool, model_name: str) -> tuple[list, list[str], list[str]]:
    """Check ``state_dict`` against a module's entries before anything is copied.

    Returns ``(plan, missing, unexpected)``, ``plan`` holding ``(owner, name, current, value)``
    for every key to load; raises :class:`StateDictError` listing every problem.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
    entries = list(entries)
    expected = {key for key, *_ in entries}
    missing = [key for key, *_ in entries if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    errors: list[str] = []
    if strict and missing:
        errors.append(f"Missing key(s) in state_dict: {_quoted(missing)}.")
    if strict and unexpected:
        errors.append(f"Unexpected key(s) in state_dict: {_quoted(unexpected)}.")
    plan = []
    for key, owner, name, current in entries:
        if key not in state_dict:
            continue
        value = _to_tensor_value(state_dict[key])
        if value is None:
            errors.append(f'While copying the parameter named "{key}", expected a corefw Tensor '
                          f"or numpy array from checkpoint but received {type(state_dict[key])}")
        elif tuple(value.shape) != tuple(current.shape):
            errors.append(f"size mismatch for {key}: copying a param with shape "
                          f"{tuple(value.shape)} from checkpoint, the shape in current model is "
                          f"{tuple(current.shape)}.")
        else:
            plan.append((owner, name, current, value))
    if errors:
        hint = "Nothing was loaded: the model is unchanged."
        if strict and (missing or unexpected):
            hint += " Pass strict=False to load the matching keys and skip the others."
        raise StateDictError(f"Error(s) in loading state_dict for {model_name}:\n\t"
                             + "\n\t".join(errors) + "\n" + hint)
    return plan, missing, unexpected


def convert_like(value: Tensor, current: Tensor, keep_dtype: bool) -> Tensor:
    """``value`` on ``current``'s device and, unless ``keep_dtype``, in its dtype."""
    if value.device != current.device:
        value = value.to(current.device)
    if not keep_dtype and value.dtype != current.dtype:
        value = value.to(current.dtype)
    return value


def parse_to(args: tuple, kwargs: dict) -> tuple[Any, _DType | None]:
    """``(device, dtype)`` from ``Module.to``'s arguments (either may be None)."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"Module.to got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, (str, corefw.device)):
            device = arg
        elif isinstance(arg, bool):
            continue  # non_blocking, positionally
        else:
            dtype = arg
    return device, (to_dtype(dtype) if dtype is not None else None)
