"""corefw against PyTorch's everyday API: which of PyTorch's public names corefw has.

The names come from ``torch_api_names.json`` beside this module, extracted from an installed
PyTorch by ``benchmarks/torch_api_coverage.py --extract`` and committed, so the check and the
page (``docs/torch-compat.md``, :func:`render`) need corefw alone. A name is *present* when
corefw answers it under the same path, *missing* when it does not, and *differs* when it is
present but behaves differently in a way a user should know (:data:`DIFFERS`, curated).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

__all__ = ["DIFFERS", "MISSING_NOTES", "NAMES_FILE", "PAGE", "load_names", "render", "status",
           "summary"]

NAMES_FILE = Path(__file__).with_name("torch_api_names.json")
#: The page in a source checkout.
PAGE = Path(__file__).resolve().parents[2] / "docs" / "torch-compat.md"

#: namespace -> (corefw module path, the torch spelling shown on the page)
NAMESPACES = {
    "torch": ("corefw", "torch"),
    "Tensor": ("corefw.Tensor", "torch.Tensor"),
    "nn": ("corefw.nn", "torch.nn"),
    "nn.functional": ("corefw.nn.functional", "torch.nn.functional"),
    "optim": ("corefw.optim", "torch.optim"),
    "optim.lr_scheduler": ("corefw.optim.lr_scheduler", "torch.optim.lr_scheduler"),
    "utils.data": ("corefw.utils.data", "torch.utils.data"),
    "linalg": ("corefw.linalg", "torch.linalg"),
    "autograd": ("corefw.autograd", "torch.autograd"),
}

#: Present but different: (namespace, name) -> what differs. Curated; keep it short.
DIFFERS: dict[tuple[str, str], str] = {
    ("torch", "save"): "writes corefw's checkpoint format (no pickle); see checkpoints.md",
    ("torch", "load"): "reads corefw checkpoints and never unpickles (`weights_only` is "
                       "always in effect)",
    ("torch", "set_num_threads"): "sets the thread count of the backends that use threads",
    ("torch", "use_deterministic_algorithms"): "swaps out kernels a backend marks "
                                               "nondeterministic",
    ("Tensor", "type"): "legacy type strings name corefw's tensor types "
                        "(`torch.FloatTensor` ...)",
    ("Tensor", "cuda"): "moves to the backend serving device type `cuda`",
    ("nn", "DataParallel"): "runs the module as it is on one device",
    ("utils.data", "DataLoader"): "worker processes as in PyTorch; `pin_memory` is a no-op",
    ("torch", "as_strided"): "a gather over the row-major elements (a copy, differentiable), "
                             "not a view of the storage",
    ("Tensor", "as_strided"): "a gather over the row-major elements (a copy), not a view",
    ("torch", "svd_lowrank"): "an exact truncated SVD, not a randomized one",
    ("torch", "pca_lowrank"): "an exact truncated SVD, not a randomized one",
    ("torch", "set_float32_matmul_precision"): "recorded and reported; float32 matmuls stay "
                                               "float32 (no TF32 path)",
    ("torch", "set_num_interop_threads"): "recorded; ops run in the calling thread",
    ("autograd", "enforce_grad_layout_policy"): "recorded; corefw has no `.grad` stride "
                                                "contract to enforce",
    ("torch", "set_flush_denormal"): "returns False (not supported), as PyTorch on such CPUs",
    ("torch", "empty_strided"): "zeros; the backend's arrays choose their strides",
    ("torch", "empty_permuted"): "zeros; the backend's arrays choose their layout",
    ("torch", "embedding_bag"): "returns the bags only (not the kernel's bookkeeping tensors)",
    ("Tensor", "new_empty_strided"): "zeros; the backend's arrays choose their strides",
    ("Tensor", "resize_"): "new elements are zero (PyTorch leaves them uninitialised)",
    ("Tensor", "stride"): "strides in elements of the backend's array (NumPy views have "
                          "them)",
    ("autograd", "set_multithreading_enabled"): "recorded; backward runs in one thread",
    ("optim", "Muon"): "Newton-Schulz in the parameter's dtype (PyTorch: bfloat16); "
                       "otherwise identical to PyTorch 2.13's steps",
}

#: Notes on missing names (why, or who does them).
MISSING_NOTES: dict[tuple[str, str], str] = {
    ("Tensor", "bfloat16"): "bfloat16 comes with the dtype work (ml_dtypes), not here",
    ("Tensor", "index"): "an internal indexing entry point; use `x[...]`",
    ("Tensor", "grad_dtype"): "new in PyTorch 2.13; not yet",
    ("Tensor", "ipu"): "no IPU backend",
    ("torch", "hash_tensor"): "new in PyTorch 2.13; not yet",
    ("Tensor", "hash_tensor"): "new in PyTorch 2.13; not yet",
    ("torch", "get_device_module"): "use `corefw.cuda` / `corefw.accelerator`",
    ("torch", "histogramdd"): "not yet; `histogram` and `histc` are there",
    ("torch", "lobpcg"): "not yet; `linalg.eigh` for dense symmetric problems",
    ("torch", "nextafter"): "needs a kernel per backend (bit-level); not yet",
    ("Tensor", "nextafter"): "needs a kernel per backend (bit-level); not yet",
    ("Tensor", "nextafter_"): "needs a kernel per backend (bit-level); not yet",
    ("torch", "igamma"): "not yet (regularized incomplete gamma)",
    ("torch", "igammac"): "not yet (regularized incomplete gamma)",
    ("Tensor", "igamma"): "not yet", ("Tensor", "igamma_"): "not yet",
    ("Tensor", "igammac"): "not yet", ("Tensor", "igammac_"): "not yet",
    ("torch", "lu"): "not yet (LU factorization); `linalg.solve`/`inv`/`det` are there",
    ("torch", "lu_solve"): "not yet", ("torch", "lu_unpack"): "not yet",
    ("Tensor", "lu"): "not yet", ("Tensor", "lu_solve"): "not yet",
    ("torch", "geqrf"): "LAPACK's building block; use `linalg.qr`",
    ("torch", "orgqr"): "LAPACK's building block; use `linalg.qr`",
    ("torch", "ormqr"): "LAPACK's building block; use `linalg.qr`",
    ("Tensor", "geqrf"): "LAPACK's building block; use `linalg.qr`",
    ("Tensor", "orgqr"): "LAPACK's building block; use `linalg.qr`",
    ("Tensor", "ormqr"): "LAPACK's building block; use `linalg.qr`",
    ("nn", "LinearCrossEntropyLoss"): "new in PyTorch 2.13; `F.linear_cross_entropy` is there",
}


def load_names() -> dict:
    """The committed list of PyTorch's names (see the module doc)."""
    return json.loads(NAMES_FILE.read_text())


def _namespace_object(ns: str):
    path = NAMESPACES[ns][0]
    if path == "corefw.Tensor":
        import corefw
        return corefw.Tensor
    return importlib.import_module(path)


def _resolve(obj, dotted: str) -> bool:
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except Exception:  # noqa: BLE001 - any failure to answer the name is "missing"
            return False
    return True


def status(ns: str, name: str) -> tuple[str, str]:
    """``(mark, note)`` of one name: mark is ``"✓"``, ``"✗"`` or ``"differs"``."""
    try:
        present = _resolve(_namespace_object(ns), name)
    except ImportError:
        present = False
    if not present:
        return "✗", MISSING_NOTES.get((ns, name), "")
    if (ns, name) in DIFFERS:
        return "differs", DIFFERS[(ns, name)]
    return "✓", ""


def summary() -> dict[str, tuple[int, int]]:
    """``{namespace: (present, total)}``; "differs" counts as present."""
    names = load_names()["namespaces"]
    return {ns: (sum(status(ns, n)[0] != "✗" for n in names[ns]), len(names[ns]))
            for ns in NAMESPACES}


_LEFT_OUT = {
    "quantization": "quantized dtypes and their ops: corefw has no quantized dtypes",
    "sparse": "sparse, nested and MKL-DNN layouts: corefw tensors are dense and strided",
    "complex": "complex numbers (`complex`, `real`, `conj` ...): corefw has no complex dtypes",
    "jit": "jit / fx / export / TorchDynamo, symbolic shapes, `vmap`: corefw has its own "
           "compiler (compile.md)",
    "fft": "`torch.fft`, `stft`/`istft` and the signal windows",
    "internal": "names starting with `_`, one vendor library's kernels (`cudnn_*`, "
                "`mkldnn_*`, `native_*` ...), functionalization copies (`*_copy`), explicit "
                "backward kernels, in-place `torch.*` functions (the Tensor methods are "
                "listed) and Python protocol plumbing",
    "storage": "storages, pinned and shared memory, `data_ptr`: corefw's storage is the "
               "backend's array",
    "named": "named tensors (a PyTorch prototype)",
    "autocast": "autocast (automatic mixed precision) state: corefw does not autocast",
    "removed": "names PyTorch keeps only to raise an error or warn that they are gone or "
               "deprecated (`torch.solve`, `torch.eig`, `chain_matmul`, `NLLLoss2d` ...)",
    "datapipes": "DataPipes (`IterDataPipe` ..., deprecated in PyTorch, moved to torchdata)",
    "lazy": "`nn.Lazy*` modules (shapes inferred on the first call)",
}


def render() -> str:
    """The page ``docs/torch-compat.md``, from the committed names and corefw."""
    data = load_names()
    names = data["namespaces"]
    sums = summary()
    lines = [
        "# PyTorch API coverage",
        "",
        "<!-- generated by `python benchmarks/torch_api_coverage.py` from "
        "corefw/testing/torch_api_names.json; tests/test_torch_compat_page.py checks it -->",
        "",
        f"corefw against PyTorch {data['torch_version']}'s everyday public API: every name "
        "of the namespaces below, with ✓ (corefw has it, under the same path), ✗ (missing) or "
        "\"differs\" (present, with a difference worth knowing). The list of PyTorch's names "
        "was extracted from an installed PyTorch by `benchmarks/torch_api_coverage.py "
        "--extract` (torch is never a dependency) and is committed, so the page is rebuilt "
        "from corefw alone; a test fails when a name is added to or removed from corefw "
        "without rebuilding it. Module paths (`corefw.utils.data`, `corefw.nn.utils`, "
        "`corefw.backends`, `corefw.cuda` ...) are described in "
        "[torch-compat-notes.md](torch-compat-notes.md).",
        "",
        "A name being present says nothing of its numbers: those are checked by the op table "
        "(`corefw.testing.CASES`, float64 NumPy references and finite differences), by "
        "`tests/peer_ops/` (op cases written in PyTorch's API, `import corefw as torch`, "
        "against NumPy; `cd tests && python -m peer_ops` prints the per-op report) and, "
        "where torch is installed, by `python benchmarks/torch_api_coverage.py --numerics` "
        "(corefw against torch on a sample of functions and gradients).",
        "",
        "## Summary",
        "",
        "| namespace | present | names | coverage |",
        "|---|---:|---:|---:|",
    ]
    have_all = total_all = 0
    for ns, (have, total) in sums.items():
        have_all, total_all = have_all + have, total_all + total
        lines.append(f"| `{NAMESPACES[ns][1]}` | {have} | {total} | "
                     f"{100.0 * have / max(total, 1):.1f}% |")
    lines.append(f"| **all** | {have_all} | {total_all} | "
                 f"{100.0 * have_all / max(total_all, 1):.1f}% |")
    lines += [
        "",
        "Keywords: `axis=`/`keepdims=` are accepted where PyTorch takes them, as are "
        "`dim=None` and negative dims. `out=` keywords and the `bfloat16` dtype are not "
        "counted here (they are not names); see [dtypes.md](dtypes.md) for the dtypes corefw "
        "has.",
        "",
        "## Left out, and why",
        "",
        "These parts of PyTorch are deliberately not counted (names excluded per namespace "
        "in parentheses):",
        "",
    ]
    counts: dict[str, int] = {}
    for per_ns in data["left_out"].values():
        for cat, n in per_ns.items():
            counts[cat] = counts.get(cat, 0) + n
    for cat, why in _LEFT_OUT.items():
        if counts.get(cat):
            lines.append(f"* {why} ({counts[cat]})")
    lines.append("* `torch.linalg` beyond its everyday functions: only `"
                 + "`, `".join(names["linalg"]) + "` are counted")
    for ns in NAMESPACES:
        have, total = sums[ns]
        lines += ["", f"## `{NAMESPACES[ns][1]}` ({have}/{total})", "",
                  "| name | corefw | note |", "|---|:---:|---|"]
        for name in names[ns]:
            mark, note = status(ns, name)
            lines.append(f"| `{name}` | {mark} | {note} |")
    return "\n".join(lines) + "\n"
