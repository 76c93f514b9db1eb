"""``Parameter``: a tensor that a :class:`~corefw.nn.Module` registers as trainable state."""

from __future__ import annotations

from corefw import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A tensor that is a module parameter.

    Assigning a ``Parameter`` as a module attribute registers it, so it appears in
    :meth:`Module.parameters` and :meth:`Module.state_dict`. ``Parameter(data)`` shares ``data``'s
    memory (it is a detached alias, a leaf) and requires grad unless ``requires_grad=False``.
    ``Parameter()`` is an empty float tensor.

    Example::

        w = corefw.nn.Parameter(corefw.randn(3, 4))
        assert w.requires_grad and w.is_leaf
    """

    __slots__ = ()  # same layout as Tensor, so a detached alias can take this class

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            import corefw

            data = corefw.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: expected a corefw.Tensor as data, got "
                            f"{type(data).__name__}; wrap arrays with corefw.tensor(...) first")
        t = data.detach()
        t.__class__ = cls
        t.requires_grad_(requires_grad)
        return t

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything happens in __new__; Tensor.__init__ must not run again

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
