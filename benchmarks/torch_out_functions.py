"""List the ``torch.*`` functions that take ``out=`` (run where PyTorch is installed).

    python benchmarks/torch_out_functions.py > corefw/_out_functions.txt

Builtin functions: an overload in PyTorch's own stub ``torch/_C/_VariableFunctions.pyi`` (the
Python signatures its argument parser accepts) has an ``out`` parameter; functions written in
Python (``torch.functional``: ``norm``, ``tensordot`` ...): ``inspect.signature`` has one.
(``torch.overrides.get_testing_overrides`` is not used: it lists ``out`` for functions such as
``squeeze`` and ``real`` that refuse it.) Only the names are written; corefw gives ``out=`` to
those it has (corefw/_out.py). PyTorch is never a dependency of corefw: this script is the only
place that imports it.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import torch


def stub_overloads() -> dict[str, bool]:
    """name -> whether any overload in _VariableFunctions.pyi has an ``out`` parameter."""
    path = Path(torch._C.__file__).parent / "_C" / "_VariableFunctions.pyi"
    if not path.exists():
        path = Path(torch.__file__).parent / "_C" / "_VariableFunctions.pyi"
    found: dict[str, bool] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            a = node.args
            names = {x.arg for x in a.args + a.kwonlyargs + a.posonlyargs}
            found[node.name] = found.get(node.name, False) or "out" in names
    return found


def has_out(name: str, fn, stubs: dict[str, bool]) -> bool:
    if inspect.isfunction(fn):  # written in Python
        try:
            return "out" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return False
    return stubs.get(name, False)


def main() -> None:
    stubs = stub_overloads()
    names = sorted(n for n in dir(torch) if not n.startswith("_") and callable(getattr(
        torch, n)) and not inspect.isclass(getattr(torch, n)))
    found = [n for n in names if has_out(n, getattr(torch, n), stubs)]
    print(f"# torch.* functions with an out= parameter, PyTorch {torch.__version__} "
          f"({len(found)} names); written by benchmarks/torch_out_functions.py")
    print("\n".join(found))


if __name__ == "__main__":
    main()
