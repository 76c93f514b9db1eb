"""Parametrizations of module tensors (PyTorch's ``torch.nn.utils.parametrize``).

``register_parametrization(module, "weight", P)`` replaces the parameter ``weight`` by the
value ``P(original)`` computed on each access, where ``original`` is a parameter kept in
``module.parametrizations.weight`` (``original0``, ``original1`` ... when ``P.right_inverse``
splits it into several). As in PyTorch the module's class is swapped for a generated subclass
with a ``weight`` property, so state-dict keys are PyTorch's
(``parametrizations.weight.original``) and ``module.weight = value`` assigns through
``right_inverse``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import corefw

from ..containers import ModuleDict, ModuleList
from ..module import Module
from ..parameter import Parameter

__all__ = ["ParametrizationList", "cached", "is_parametrized", "register_parametrization",
           "remove_parametrizations", "type_before_parametrizations"]

_cache_depth = [0]
_cache: dict[tuple[int, str], Any] = {}


@contextlib.contextmanager
def cached() -> Iterator[None]:
    """Inside this context each parametrized tensor is computed once and reused (e.g. a
    weight used at every step of a recurrent loop)."""
    _cache_depth[0] += 1
    try:
        yield
    finally:
        _cache_depth[0] -= 1
        if not _cache_depth[0]:
            _cache.clear()


def _register(module: Module, name: str, value: Any) -> None:
    if isinstance(value, Parameter):
        module.register_parameter(name, value)
    else:
        module.register_buffer(name, value)


def _assign(dest: Any, src: Any) -> None:
    """Give ``dest`` the value of ``src``, keeping the ``dest`` object (optimizers hold it)."""
    if src is dest:
        return
    if tuple(src.shape) == tuple(dest.shape):
        dest.copy_(src)
    else:
        dest.data = src.detach()


def _check_value(what: str, value: Any, shape: tuple, dtype: Any) -> None:
    if not isinstance(value, corefw.Tensor):
        raise ValueError(f"{what} must return a tensor, got {type(value).__name__}")
    if tuple(value.shape) != shape or value.dtype != dtype:
        raise ValueError(
            f"{what} may not change the shape or dtype of the tensor unless unsafe=True: "
            f"expected {shape} {dtype}, got {tuple(value.shape)} {value.dtype}")


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and its original value(s).

    Calling it returns the parametrized tensor; :meth:`right_inverse` stores a new value.
    """

    def __init__(self, modules: Sequence[Module], original: Any, unsafe: bool = False) -> None:
        super().__init__(modules)
        self.unsafe = unsafe
        shape, dtype = tuple(original.shape), original.dtype
        with corefw.no_grad():
            new = original
            for m in reversed(list(self)):
                if hasattr(m, "right_inverse"):
                    new = m.right_inverse(new)
        if not isinstance(new, (corefw.Tensor, Sequence)):
            raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors "
                             f"(list, tuple...). Got {type(new).__name__}")
        self.is_tensor = isinstance(new, corefw.Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if new.dtype != original.dtype:
                raise ValueError(f"When `right_inverse` outputs one tensor, it may not change "
                                 f"the dtype ({original.dtype} -> {new.dtype})")
            with corefw.no_grad():
                _assign(original, new)
            _register(self, "original", original)
        else:
            for i, value in enumerate(new):
                if not isinstance(value, corefw.Tensor):
                    raise ValueError(f"'right_inverse' must return a sequence of tensors; "
                                     f"element {i} is {type(value).__name__}")
                value = value.detach()
                if isinstance(original, Parameter):
                    value = Parameter(value, original.requires_grad)
                _register(self, f"original{i}", value)
        if not unsafe:
            _check_value("A parametrization", self(), shape, dtype)

    def right_inverse(self, value: Any) -> None:
        """Store ``value`` as the new parametrized value (through each ``right_inverse``)."""
        with corefw.no_grad():
            for m in reversed(list(self)):
                if not hasattr(m, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(m).__name__} does not implement "
                                       "right_inverse.")
                value = m.right_inverse(value)
            if self.is_tensor:
                _assign(self.original, value)
            else:
                for i, v in enumerate(value):
                    _assign(getattr(self, f"original{i}"), v)

    def forward(self) -> Any:
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in list(self)[1:]:
            x = m(x)
        return x


def _inject_new_class(module: Module) -> None:
    cls = module.__class__
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {})


def _inject_property(module: Module, name: str) -> None:
    def get_parametrized(self: Module) -> Any:
        plist = self.parametrizations[name]
        if not _cache_depth[0]:
            return plist()
        key = (id(self), name)
        if key not in _cache:
            _cache[key] = plist()
        return _cache[key]

    def set_original(self: Module, value: Any) -> None:
        self.parametrizations[name].right_inverse(value)

    setattr(module.__class__, name, property(get_parametrized, set_original))


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has any parametrization (or one on ``tensor_name``)."""
    plists = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(plists, ModuleDict):
        return False
    return len(plists) > 0 if tensor_name is None else tensor_name in plists


def type_before_parametrizations(module: Module) -> type:
    """The module's class before parametrizations were registered."""
    cls = type(module)
    return cls.__bases__[0] if is_parametrized(module) else cls


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Parametrize ``module.<tensor_name>`` by ``parametrization`` (a module whose forward
    maps the original to the value; an optional ``right_inverse`` maps back).

    A second call on the same tensor chains the parametrizations. ``unsafe=True`` skips the
    check that the value keeps the tensor's shape and dtype.

    Raises:
        ValueError: ``module`` has no parameter, buffer or parametrized tensor of that name, or
            the parametrization changes shape/dtype without ``unsafe``.
    """
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            current = getattr(module, tensor_name)
            value = parametrization(current)
            _check_value("Registering a parametrization", value, tuple(current.shape),
                         current.dtype)
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        plist.unsafe = plist.unsafe or unsafe
    elif tensor_name in module._parameters or tensor_name in module._buffers:
        original = getattr(module, tensor_name)
        plist = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        module.parametrizations[tensor_name] = plist
        _inject_property(module, tensor_name)
    else:
        raise ValueError(f"Module '{type(module).__name__}' does not have a parameter, a buffer, "
                         f"or a parametrized element with name '{tensor_name}'")
    return module


def remove_parametrizations(module: Module, tensor_name: str,
                            leave_parametrized: bool = True) -> Module:
    """Undo :func:`register_parametrization` on ``tensor_name``: the tensor becomes a plain
    parameter again, holding the parametrized value (``leave_parametrized``) or the original.

    Raises:
        ValueError: the tensor is not parametrized, or ``leave_parametrized=False`` for a
            tensor stored as several originals.
    """
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {type(module).__name__} does not have a parametrization on "
                         f"{tensor_name}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with corefw.no_grad():
                _assign(original, getattr(module, tensor_name))
    else:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor "
                             "that is parametrized in terms of a sequence of tensors.")
        with corefw.no_grad():
            value = getattr(module, tensor_name).detach()
        requires_grad = plist.original0.requires_grad
        original = Parameter(value, requires_grad) if isinstance(plist.original0, Parameter) \
            else value
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    _register(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__.__bases__[0]
    return module
