"""The :class:`Optimizer` base class: parameter groups, per-parameter state, state dicts.

A subclass passes its hyperparameter defaults to ``Optimizer.__init__`` and implements
``step``, which reads each group's options and updates every parameter whose ``.grad`` is not
``None`` in place, under :func:`corefw.no_grad`. Everything else (groups, ``zero_grad``,
``state_dict`` in PyTorch's layout, ``load_state_dict``, step hooks) lives here.
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from typing import Any

import corefw
from corefw.errors import StateDictError

__all__ = ["Optimizer", "OptimizerStateDictError", "ParamsT", "required"]

ParamsT = Iterable[Any]
"""What an optimizer accepts as ``params``: an iterable of tensors, or of dicts whose
``"params"`` entry holds tensors and whose other entries override the defaults for that
group."""


class OptimizerStateDictError(StateDictError, ValueError):
    """``Optimizer.load_state_dict`` was given a state dict that does not fit the optimizer.

    It is a :class:`corefw.errors.StateDictError` and, as PyTorch raises ``ValueError`` here,
    also a ``ValueError``.
    """


def _scalar_state(value: float = 0.0, device: Any = None) -> Any:
    """A 0-d float32 tensor, as PyTorch keeps ``step`` and other scalar state: on the default
    device, or on the parameter's ``device`` for a ``capturable`` optimizer."""
    return corefw.tensor(float(value), dtype=corefw.float32, device=device)


def _addcdiv_(p: Any, tensor1: Any, tensor2: Any, value: Any) -> Any:
    """``p.addcdiv_(tensor1, tensor2, value=value)``. A ``value`` computed from the step
    counter while ``corefw.compile`` captures (a lifted scalar, see corefw/compiler/_lift.py)
    takes the same arithmetic, ``p + value * tensor1 / tensor2``, without ``addcdiv_``'s
    ``value != 1`` shortcut, which would be a guard after the parameter changed. A tensor
    ``value`` (a ``capturable`` optimizer's, computed on the device) takes the same path."""
    if isinstance(value, corefw.Tensor) or hasattr(value, "__corefw_lift__"):
        return p.add_(value * tensor1 / tensor2)
    return p.addcdiv_(tensor1, tensor2, value=value)


class _RequiredParameter:
    """Singleton marking a hyperparameter with no default (it must be given per group)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class _HookHandle:
    """Returned by the ``register_*_hook`` methods; ``remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: OrderedDict) -> None:
        self._hooks = hooks
        self.id = _HookHandle._next_id
        _HookHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


def _wrap_step(step: Callable) -> Callable:
    """Wrap a subclass's ``step``: run the step hooks, mark the optimizer as having stepped."""

    @functools.wraps(step)
    def wrapper(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        if self._in_step:  # a subclass step calling super().step(): hooks run once
            return step(self, *args, **kwargs)
        for hook in list(self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"{type(self).__name__}.step: a step pre-hook must return None or a "
                        f"tuple (new_args, new_kwargs), but returned {result!r}"
                    )
                args, kwargs = result
        self._opt_called = True
        self._in_step = True
        try:
            out = step(self, *args, **kwargs)
        finally:
            self._in_step = False
        for hook in list(self._optimizer_step_post_hooks.values()):
            hook(self, args, kwargs)
        return out

    return wrapper


def _check_unsupported(name: str, **flags: Any) -> None:
    """Refuse PyTorch-only implementation switches (fused, capturable, differentiable)."""
    for flag, value in flags.items():
        if value:
            raise NotImplementedError(
                f"{name}({flag}={value!r}) is not supported by corefw; leave {flag} unset "
                "(corefw runs one per-parameter implementation on every backend"
                + ("; Adam and AdamW implement capturable)" if flag == "capturable" else ")")
            )


_VALUE_NAMES = {"lr": "learning rate", "eps": "epsilon value"}


def _check_non_negative(**values: Any) -> None:
    """PyTorch's ``ValueError("Invalid <name> value: <v>")`` for a negative (or NaN) option;
    a tensor option (a tensor lr) must hold one floating-point number."""
    for name, value in values.items():
        if isinstance(value, corefw.Tensor):
            if value.numel() != 1 or not value.is_floating_point():
                raise ValueError(f"Tensor {name} must be 1-element and floating point, got "
                                 f"{value.dtype} of shape {tuple(value.shape)}; use "
                                 f"corefw.tensor(0.001)")
            value = value.item()
        if not 0.0 <= value:
            raise ValueError(f"Invalid {_VALUE_NAMES.get(name, name + ' value')}: {value}")


def _lr(group: dict[str, Any]) -> Any:
    """``group["lr"]`` as a number. A tensor lr (which schedulers fill in place) is read with
    ``.item()``, which ``corefw.compile`` lifts into the graph: a new value is an input, not a
    new capture."""
    lr = group["lr"]
    return lr.item() if isinstance(lr, corefw.Tensor) else lr


def _copy_value(value: Any) -> Any:
    """A copy of a state-dict value that shares no tensor or container with the original."""
    if isinstance(value, corefw.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _copy_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy_value(v) for v in value)
    return value


class Optimizer:
    """Base class of every optimizer (PyTorch's ``torch.optim.Optimizer``).

    Args:
        params: an iterable of tensors to optimize, or an iterable of dicts, each with a
            ``"params"`` entry (a tensor or an iterable of tensors) and optional per-group
            overrides of ``defaults`` (e.g. ``{"params": head, "lr": 1e-2}``).
        defaults: the hyperparameters of the optimizer and their default values, used for
            every group that does not set them.

    Attributes:
        param_groups: a list of dicts, one per group, with key ``"params"`` (a list of
            tensors) and one key per hyperparameter. Schedulers change ``group["lr"]``.
        state: a dict from parameter tensor to that parameter's state dict (moment
            buffers, step counters...), filled lazily by ``step``.
        defaults: the ``defaults`` given to the constructor.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._opt_called = False
        self._in_step = False
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        if isinstance(params, corefw.Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}; pass [tensor] or model.parameters()"
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _wrap_step(cls.__dict__["step"])

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_opt_called", False)
        self.__dict__.setdefault("_in_step", False)
        self.__dict__.setdefault("_optimizer_step_pre_hooks", OrderedDict())
        self.__dict__.setdefault("_optimizer_step_post_hooks", OrderedDict())

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    # ------------------------------------------------------------------ parameter groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, e.g. layers unfrozen while fine-tuning.

        Args:
            param_group: a dict with a ``"params"`` entry (a tensor or an ordered iterable of
                tensors) and optional hyperparameters; missing ones take the defaults.

        Raises:
            TypeError: ``param_group`` is not a dict, ``params`` is a set, or holds a
                non-tensor.
            ValueError: a non-leaf tensor, a required hyperparameter missing, or a parameter
                that already belongs to another group.
        """
        if not isinstance(param_group, dict):
            raise TypeError(
                f"param_group must be a dict, but got {type(param_group).__name__}"
            )
        params = param_group["params"]
        if isinstance(params, corefw.Tensor):
            param_group["params"] = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list "
                "instead."
            )
        else:
            param_group["params"] = list(params)
        for param in param_group["params"]:
            if not isinstance(param, corefw.Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(param).__name__}"
                )
            if not (param.is_leaf or getattr(param, "retains_grad", False)):
                raise ValueError(
                    "can't optimize a non-leaf Tensor (one computed from other tensors); "
                    "optimize the leaf it comes from, or a .detach().requires_grad_() copy"
                )
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)
        ids = [id(p) for p in param_group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; they will "
                "be updated more than once per step",
                UserWarning,
                stacklevel=3,
            )
        existing = {id(p) for group in self.param_groups for p in group["params"]}
        if not existing.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ gradients and step
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every optimized parameter.

        Args:
            set_to_none: set ``.grad`` to ``None`` (default; cheaper, and ``step`` then skips
                the parameter) instead of filling it with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if p.grad.grad_fn is not None:
                    p.grad = p.grad.detach()
                else:
                    p.grad.requires_grad_(False)
                with corefw.no_grad():
                    p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s loss if given.

        Args:
            closure: a function that re-evaluates the model and returns the loss; called
                under grad mode before the update.
        """
        return self._step_each(closure, self._update)

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        """Update parameter ``p`` in place (under no_grad) from ``p.grad``, ``group``'s
        options and its ``state``; a per-parameter optimizer implements this (or ``step``)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement step(); an Optimizer subclass must "
            "implement step() or _update(p, group, state)"
        )

    @staticmethod
    def _run_closure(closure: Callable[[], Any] | None) -> Any:
        """Call ``closure`` (if any) with grad mode on, as every ``step`` does first."""
        if closure is None:
            return None
        with corefw.enable_grad():
            return closure()

    def _step_each(self, closure: Callable[[], Any] | None,
                   update: Callable[[Any, dict[str, Any], dict[str, Any]], None]) -> Any:
        """The step loop every per-parameter optimizer shares.

        Runs ``closure`` under grad mode, then, under :func:`corefw.no_grad`, for each
        parameter of each group whose ``.grad`` is not ``None``: creates its state with
        :meth:`_init_state` when it is still empty, and calls ``update(p, group, state)``.
        Returns the closure's loss (``None`` without a closure).
        """
        loss = self._run_closure(closure)
        states = self.state
        with corefw.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = states[p]
                    if not state:
                        self._init_state(p, group, state)
                    update(p, group, state)
                    if not state:  # stateless (SGD without momentum): no empty entry
                        del states[p]
        return loss

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        """Fill the empty ``state`` of parameter ``p`` before its first update (none here)."""

    @staticmethod
    def _grad(p: Any, group: dict[str, Any]) -> Any:
        """``p.grad``, negated when the group maximizes."""
        return -p.grad if group.get("maximize", False) else p.grad

    def register_step_pre_hook(self, hook: Callable) -> _HookHandle:
        """Register ``hook(optimizer, args, kwargs)`` to run before each ``step``.

        It may return ``None`` or a tuple ``(new_args, new_kwargs)`` given to ``step``.
        Returns a handle whose ``remove()`` unregisters it.
        """
        handle = _HookHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook: Callable) -> _HookHandle:
        """Register ``hook(optimizer, args, kwargs)`` to run after each ``step``."""
        handle = _HookHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout.

        Returns:
            ``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``
            where parameters are numbered in group order, starting at 0. The state tensors
            are the live buffers (not copies), as in PyTorch; clone them to keep a snapshot
            while training continues.
        """
        mapping: dict[int, int] = {}
        start = 0
        packed_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            packed_groups.append(packed)
        packed_state = {
            (mapping[id(k)] if isinstance(k, corefw.Tensor) else k): v
            for k, v in self.state.items()
        }
        return {"state": packed_state, "param_groups": packed_groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state dict made by :meth:`state_dict` (here or by PyTorch).

        Group hyperparameters are replaced by the saved ones; state tensors are copied and
        cast to their parameter's device (and dtype, for floating parameters). The given
        dict is not modified and shares no tensor with the optimizer afterwards.

        Raises:
            OptimizerStateDictError: (a StateDictError and a ValueError) the dict lacks
                ``"state"`` or ``"param_groups"``, or its groups differ in number or size
                from this optimizer's, or a state tensor's shape differs from its parameter's.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(
            state_dict
        ):
            raise OptimizerStateDictError(
                f"{name}: expected a dict with keys 'state' and 'param_groups' (as returned by "
                f"Optimizer.state_dict()), got {type(state_dict).__name__}"
                + (f" with keys {sorted(state_dict)}" if isinstance(state_dict, Mapping) else "")
            )
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise OptimizerStateDictError(
                f"{name}: loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)}) than the optimizer ({len(groups)}); build the optimizer "
                "with the same groups as the one that was saved"
            )
        lens = [len(g["params"]) for g in groups]
        saved_lens = [len(g["params"]) for g in saved_groups]
        if lens != saved_lens:
            raise OptimizerStateDictError(
                f"{name}: loaded state dict contains a parameter group that doesn't match the "
                f"size of optimizer's group (saved group sizes {saved_lens}, optimizer's "
                f"{lens}); build the optimizer over the same parameters in the same order"
            )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        # a capturable group keeps its step on the parameter's device (PyTorch's policy)
        on_device = {i for g in saved_groups if g.get("capturable") for i in g["params"]}
        state: defaultdict = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = {
                    k: self._cast_state_value(param, k, v, key, name) for k, v in value.items()
                }
                if key in on_device and "step" in state[param]:
                    state[param]["step"] = state[param]["step"].to(param.device)
            else:
                state[key] = _copy_value(value)
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            new_group = {k: _copy_value(v) for k, v in saved.items() if k != "params"}
            new_group["params"] = group["params"]
            for k, v in self.defaults.items():  # dicts saved by older versions
                new_group.setdefault(k, v)
            new_groups.append(new_group)
        self.state = state
        self.param_groups = new_groups

    def _cast_state_value(self, param: Any, key: str, value: Any, index: Any, name: str) -> Any:
        """Copy one saved state value, placed on ``param``'s device (and dtype if floating)."""
        if key == "step":
            if not isinstance(value, corefw.Tensor):  # older format: a Python number
                return corefw.tensor(float(value), dtype=corefw.float32)
            return value.detach().clone()
        if not isinstance(value, corefw.Tensor):
            return _copy_value(value)
        if value.dim() > 0 and tuple(value.shape) != tuple(param.shape):
            raise OptimizerStateDictError(
                f"{name}: state '{key}' of parameter {index} has shape {tuple(value.shape)} "
                f"but the parameter has shape {tuple(param.shape)}; the state dict comes from "
                "an optimizer over different parameters"
            )
        out = value.detach()
        copied = False
        if out.device != param.device:
            out, copied = out.to(param.device), True
        if param.dtype.is_floating_point and out.dtype != param.dtype:
            out, copied = out.to(param.dtype), True
        return out if copied else out.clone()


Optimizer.step = _wrap_step(Optimizer.step)  # type: ignore[method-assign]
