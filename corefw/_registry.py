"""The op registry: one declaration per op, holding everything the core needs to run it.

:func:`declare` records an :class:`OpDef` (JAX's primitive with its rules in one block,
``torch.library.custom_op`` + ``register_fake`` + ``register_autograd`` in one call):

* ``rule(*operands, **attrs) -> Spec | tuple`` -- the shape/dtype rule (:mod:`corefw._rules`):
  output shapes and dtypes from operand shapes, dtypes and attributes, or a typed error. The
  ``meta`` device runs it instead of a kernel; it explains a kernel's failure.
* ``vjp(ctx, grad) -> tuple`` -- the derivative, written with Tensor methods and operators so
  it runs on every backend and can itself be differentiated. ``ctx.inputs``, ``ctx.output``
  and ``ctx.attrs`` are what the op saved.
* ``saves`` -- what the VJP reads: operand positions and/or ``"output"``, or a function of the
  operands (``saves=cross``: each operand only when the other one requires grad). Operands not
  saved reach the VJP as storage-free ``meta`` tensors (shape, dtype, ``requires_grad``), so a
  graph keeps alive only what its gradients need.
* ``decomposition(*operands, **attrs)`` -- the op written with other ops: how a backend with
  no kernel runs it, and its rule when it declares none.
* ``view`` (the result aliases operand 0) and ``inplace`` (writes into operand 0).

The registry holds data only: it imports nothing above errors. Kernels live in backends and
are resolved per device by :mod:`corefw.dispatch`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .errors import PluginError

__all__ = ["FN", "METHODS", "OPS", "OpDef", "anonymous", "cross", "declare", "get_op",
           "on_register", "publish"]

ALL = None  # ``saves=ALL``: every operand (the default for ops that declare nothing)
_MASK_LEN = 8  # OpDef.mask covers this many operands (record() extends it for more)


class OpDef:
    """One op's declaration (see the module docstring). Attributes are read on the hot path,
    so this is a plain slotted object."""

    __slots__ = ("name", "rule", "vjp", "saves", "save_output", "mask", "decomposition",
                 "view", "inplace", "primitive", "differentiable", "doc", "owner")

    def __init__(self, name: str, *, rule: Callable | None, vjp: Callable | None,
                 saves, decomposition: Callable | None, view: bool, inplace: bool,
                 primitive: bool, differentiable: bool, doc: str, owner: str) -> None:
        self.name = name
        self.rule = rule
        self.vjp = vjp
        self.decomposition = decomposition
        self.view = view
        self.inplace = inplace
        self.primitive = primitive
        self.differentiable = differentiable
        self.doc = doc
        self.owner = owner
        self.set_saves(saves)

    def set_saves(self, saves) -> None:
        """Set what the VJP reads (see :func:`declare`)."""
        if saves is ALL or callable(saves):
            self.saves, self.save_output, self.mask = saves, False, None
        else:
            saves = tuple(saves)
            self.save_output = "output" in saves
            self.saves = frozenset(i for i in saves if i != "output")
            # per operand position, whether it is saved: the hot path indexes this tuple
            self.mask = tuple(i in self.saves for i in range(_MASK_LEN))

    def saved(self, operands: Sequence) -> tuple[bool, ...] | None:
        """Per operand, whether the VJP reads its values; None when it reads them all."""
        saves = self.saves
        if saves is ALL:
            return None
        if callable(saves):
            return saves(operands)
        return tuple(i in saves for i in range(len(operands)))

    def __repr__(self) -> str:
        kind = "primitive" if self.primitive else "composite"
        return f"<corefw op {self.name!r} ({kind}, from {self.owner})>"


def cross(operands: Sequence) -> tuple[bool, bool]:
    """each operand only when the other needs a gradient

    (``saves=cross``: mul, matmul, linear -- the gradient for one operand is the other operand
    times the output gradient)."""
    a, b = operands[0], operands[1]
    return (getattr(b, "_req", False), getattr(a, "_req", False)) + (True,) * (
        len(operands) - 2)


OPS: dict[str, OpDef] = {}
_listeners: list[Callable[[OpDef], Any]] = []


def declare(name: str, *, rule: Callable | None = None, vjp: Callable | None = None,
            saves: Sequence | Callable | None = ALL, decomposition: Callable | None = None,
            view: bool = False, inplace: bool = False, primitive: bool = False,
            differentiable: bool = True, doc: str = "", owner: str = "corefw",
            override: bool = False) -> OpDef:
    """Declare an op (core and plugins alike); returns its :class:`OpDef`.

    A primitive (an op every backend implements) must have a ``rule``; a composite needs a
    ``decomposition`` unless every backend that runs it brings a kernel (its rule then
    defaults to running the decomposition on the ``meta`` device). ``saves`` defaults to every
    operand. Declaring a name twice raises :class:`~corefw.errors.PluginError` naming both
    owners unless ``override=True``.
    """
    if name in OPS and not override:
        raise PluginError(
            f"op {name!r} is already registered by {OPS[name].owner!r}; {owner!r} cannot "
            f"register it again (pass override=True to replace it on purpose)")
    if primitive and rule is None:
        raise PluginError(f"primitive op {name!r} ({owner}) needs a shape/dtype rule")
    op = OpDef(name, rule=rule, vjp=vjp, saves=saves, decomposition=decomposition, view=view,
               inplace=inplace, primitive=primitive, differentiable=differentiable, doc=doc,
               owner=owner)
    OPS[name] = op
    for listener in _listeners:
        listener(op)
    return op


def anonymous(name: str, *, vjp: Callable, owner: str) -> OpDef:
    """An op that is not in the registry (a custom ``autograd.Function``'s node): it saves
    every operand and has no rule."""
    return OpDef(name, rule=None, vjp=vjp, saves=ALL, decomposition=None, view=False,
                 inplace=False, primitive=False, differentiable=True, doc="", owner=owner)


def get_op(name: str) -> OpDef:
    """The declared op called ``name``; a KeyError-derived error lists close names."""
    try:
        return OPS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, OPS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PluginError(f"no op named {name!r} is registered{hint}") from None


def on_register(listener: Callable[[OpDef], Any]) -> None:
    """Call ``listener(op)`` for every op declared from now on (the dispatcher uses it)."""
    _listeners.append(listener)


class Functions:
    """The public op functions by name (``FN.add``, ``FN.sum`` ...). Tensor's methods and
    operators call through this table, so the Tensor layer imports nothing from the ops layer
    above it; the ops modules fill it with :func:`publish` as they are imported."""

    def __getattr__(self, name: str):
        raise AttributeError(f"corefw has no op function {name!r} (the ops layer publishes "
                             f"its functions when corefw is imported)")


FN = Functions()
#: Tensor method name -> the ``FN`` function it calls (``"clip": "clamp"``); read by the
#: generator of :mod:`corefw._tensor_methods`.
METHODS: dict[str, str] = {}


#: Tensor properties among :data:`METHODS` (``T``, ``mT``).
PROPERTIES: set[str] = set()


def publish(namespace: dict[str, Any], names: Sequence[str], methods: str = "",
            aliases: dict[str, str] | None = None, properties: str = "") -> None:
    """Enter the functions ``names`` of an ops module into :data:`FN`; ``methods`` (a
    whitespace-separated list) are also Tensor methods, and ``aliases`` maps extra method
    names to function names. Called once at the end of each ops module, beside its ops'
    declarations."""
    for name in names:
        setattr(FN, name, namespace[name])
    for name in methods.split():
        METHODS[name] = name
    METHODS.update(aliases or {})
    for name in properties.split():
        METHODS[name] = name
        PROPERTIES.add(name)
