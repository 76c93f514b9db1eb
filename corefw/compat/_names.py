"""How torch module names map to corefw's (and back): the one table the import hook and the
error messages share."""

from __future__ import annotations

__all__ = ["corefw_name", "torch_name"]

# torch package -> the module that answers it, where the name is not simply corefw.<same>.
_SPECIAL = {"torch": "corefw", "torch.onnx": "corefw_onnx"}


def corefw_name(name: str) -> str:
    """The module that answers the torch module ``name`` (``torch.nn.functional`` ->
    ``corefw.nn.functional``, ``torch.onnx.x`` -> ``corefw_onnx.x``)."""
    head = name
    while head:
        if head in _SPECIAL:
            return _SPECIAL[head] + name[len(head):]
        head = head.rpartition(".")[0]
    raise ValueError(f"{name!r} is not a torch module name")


def torch_name(module: str) -> str | None:
    """The torch spelling of a corefw module name (``corefw.fft`` -> ``torch.fft``), or
    ``None`` for a module outside corefw."""
    for torch_mod, ours in sorted(_SPECIAL.items(), key=lambda kv: -len(kv[1])):
        if module == ours or module.startswith(ours + "."):
            return torch_mod + module[len(ours):]
    return None
