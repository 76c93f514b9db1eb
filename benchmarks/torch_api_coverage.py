"""corefw's coverage of PyTorch's everyday API, measured against an installed PyTorch.

Run where torch is installed (it is never a dependency of corefw)::

    python benchmarks/torch_api_coverage.py --extract      # list torch's names -> JSON
    python benchmarks/torch_api_coverage.py                # check corefw, write the page
    python benchmarks/torch_api_coverage.py --numerics     # also compare numerics with torch

``--extract`` lists PyTorch's public names per namespace (``torch.*`` functions, ``Tensor``
methods and properties, ``torch.nn`` modules, ``torch.nn.functional``, ``torch.optim``,
``torch.optim.lr_scheduler``, ``torch.utils.data``, the everyday part of ``torch.linalg`` and
``torch.autograd``) into ``corefw/testing/torch_api_names.json``, which is committed: the
page ``docs/torch-compat.md`` is rebuilt from that file and corefw alone (no torch), and
``tests/test_torch_compat_page.py`` fails when the page and the code disagree.

Deliberately left out (each rule below names its reason; the page repeats the list):

* quantization (``quantize_per_tensor``, ``q_*``, ``fake_quantize_*``, ``int_repr`` ...):
  corefw has no quantized dtypes;
* sparse and other layouts (``sparse_*``, ``to_sparse``, ``indices``, ``crow_indices`` ...,
  ``to_mkldnn``): corefw tensors are dense and strided;
* complex numbers (``complex``, ``real``, ``imag``, ``conj*``, ``view_as_complex`` ...):
  corefw has no complex dtypes;
* jit / fx / export / ``torch.compile`` internals, symbolic shapes (``sym_*``), the functorch
  transforms (``vmap``): corefw has its own compiler (docs/compile.md);
* fft and signal windows (``stft``, ``istft``, ``*_window``);
* internals: names starting with ``_``, kernels of one vendor library (``cudnn_*``,
  ``miopen_*``, ``mkldnn_*``, ``fbgemm_*``, ``native_*``), functionalization copies
  (``*_copy``), explicit backward kernels (``*_backward``), in-place ``torch.*`` functions
  (``torch.relu_``; the Tensor methods are listed), storage, named tensors, Python protocol
  plumbing (``__torch_function__``), and deprecated names PyTorch itself discourages
  (``torch.chain_matmul``, ``Tensor.type_as``'s legacy storage siblings ...).
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corefw.testing import torch_compat  # noqa: E402

#: (pattern on the bare name, category): the first match excludes a name.
EXCLUDE = [
    (r"^_", "internal"),
    (r"quantiz|^q_|^qscheme|int_repr|^fake_quant|^dequantize|^quantized|fbgemm|"
     r"per_channel|^is_quantized|qint|quint", "quantization"),
    (r"sparse|^to_dense$|^indices$|^values$|crow_indices|col_indices|ccol_indices|"
     r"row_indices|^coalesce$|^is_coalesced$|^_nnz$|^smm$|^sspaddmm$|^hspmm$|^spmm$|"
     r"^saddmm$|^dense_dim$|^to_mkldnn$|^mkldnn|^is_mkldnn$|^to_padded_tensor$|"
     r"^nested|^is_nested$|^segment_reduce$|^dsmm$|^hsmm$|^SparseAdam$", "sparse"),
    (r"complex|^c(float|double|half)$|^real$|^imag$|conj|^polar$|^view_as_real|^is_neg$|^resolve_neg$|^angle$|"
     r"^adjoint$|^mH$|^H$", "complex"),
    (r"^jit$|^compile$|^export$|^fx$|^sym_|^Sym|^cond$|^while_loop$|^vmap$|^func$|"
     r"^library$|^compiled_with_cxx11_abi$|^is_compiling$|^guard|^classproperty$|^fork$|"
     r"^wait$|_ir_module|^parse_ir$|^parse_schema$|type_comment$|^unify_type_list$",
     "jit"),
    (r"autocast", "autocast"),
    (r"^eig$|^symeig$|^lstsq$|^solve$|^matrix_rank$|^chain_matmul$|^reinforce$|"
     r"^volatile$|^set_default_tensor_type$|^NLLLoss2d$|^CrossMapLRN2d$", "removed"),
    (r"DataPipe|^DataChunk$|datapipe|^non_deterministic$|^runtime_validation|"
     r"^argument_validation$", "datapipes"),
    (r"fft|^stft$|^istft$|_window$", "fft"),
    (r"^cudnn_|^miopen_|^mkldnn_|^native_|^batch_norm_backward|^batch_norm_elemt|"
     r"^batch_norm_gather|^batch_norm_stats|^batch_norm_update_stats|_copy$|_backward$|"
     r"^fused_|^mps|^xpu|^mtia|^is_inference$|^rrelu_with_noise|"
     r"^embedding_renorm_|^constant_pad_nd$|^convolution$|^conv_tbc$|^choose_qparams|"
     r"^grid_sampler|^affine_grid_generator$|^rnn_(relu|tanh)|^(gru|lstm)(_cell)?$|"
     r"^feature_dropout$|^norm_except_dim$|^(frobenius|nuclear)_norm$|^profiler_|"
     r"^prepare_multiprocessing_environment$|^get_file_path$|^init_num_threads$|"
     r"^thread_safe_generator$|^slice_inverse$|^output_nr$|^record_stream$|grouped_mm$|"
     r"^scaled_mm$|^const_data_ptr$", "internal"),
    (r"storage|^share_memory_$|^is_shared$|^data_ptr$|^untyped_|^from_file$|"
     r"^set_$|^is_set_to$|^dim_order$|^module_load$|^new_tensor$|^pin_memory$|^is_pinned$",
     "storage"),
    (r"^names?$|^refine_names$|^rename_?$|^align_to$|^align_as$|^has_names$|^unflatten_names",
     "named"),
]

#: the everyday part of torch.linalg (the issue's list)
LINALG = ["norm", "vector_norm", "matrix_norm", "inv", "solve", "det", "slogdet", "cholesky",
          "qr", "svd", "eigh", "pinv", "lstsq"]


def _category(name: str) -> str | None:
    for pattern, category in EXCLUDE:
        if re.search(pattern, name):
            return category
    return None


def _public(names, keep):
    """``(kept names, {category: count})`` of ``names`` filtered by :data:`EXCLUDE`."""
    kept, left_out = [], {}
    for name in sorted(set(names)):
        cat = _category(name)
        if cat is not None or not keep(name):
            cat = cat or "internal"
            left_out[cat] = left_out.get(cat, 0) + 1
            continue
        kept.append(name)
    return kept, left_out


def extract() -> dict:
    """List torch's public names per namespace (needs torch)."""
    import torch
    import torch.nn.functional as F
    import torch.optim.lr_scheduler as lr
    import torch.utils.data as data

    def is_fn(obj) -> bool:
        return callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj)

    ns: dict[str, list[str]] = {}
    left: dict[str, dict[str, int]] = {}

    # torch.*: functions, grad-mode context managers and the other callables a program calls
    # (not classes of tensors, dtypes, storages or exceptions)
    classes_kept = {"no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "Generator",
                    "Size", "device", "dtype", "finfo", "iinfo", "Tensor"}
    names = [n for n in dir(torch) if (is_fn(getattr(torch, n, None)) or n in classes_kept)]
    names = [n for n in names if not n.endswith("_") or n in {"manual_seed_"}]
    left_inplace = sum(1 for n in dir(torch) if n.endswith("_") and not n.startswith("_")
                       and is_fn(getattr(torch, n, None)))
    ns["torch"], left["torch"] = _public(names, lambda n: True)
    left["torch"]["internal"] = left["torch"].get("internal", 0) + left_inplace

    tensor_names = [n for n in dir(torch.Tensor) if not n.startswith("_")]
    ns["Tensor"], left["Tensor"] = _public(tensor_names, lambda n: True)

    nn_names = [n for n in dir(torch.nn) if inspect.isclass(getattr(torch.nn, n))
                and issubclass(getattr(torch.nn, n), torch.nn.Module)]
    lazy = [n for n in nn_names if n.startswith("Lazy")]
    ns["nn"], left["nn"] = _public([n for n in nn_names if n not in lazy],
                                   lambda n: n != "Container")
    left["nn"]["lazy"] = len(lazy)

    def f_keep(name):
        obj = getattr(F, name)
        mod = getattr(obj, "__module__", "") or ""
        return is_fn(obj) and (mod.startswith("torch.nn") or mod.startswith("torch._C")
                               or mod == "torch" or mod.startswith("torch.functional"))

    f_names = [n for n in dir(F) if n not in {"handle_torch_function", "has_torch_function",
                                              "has_torch_function_unary",
                                              "has_torch_function_variadic",
                                              "boolean_dispatch", "assert_int_or_pair"}]
    ns["nn.functional"], left["nn.functional"] = _public(f_names, f_keep)

    optim_names = [n for n in dir(torch.optim) if inspect.isclass(getattr(torch.optim, n))
                   and issubclass(getattr(torch.optim, n), torch.optim.Optimizer)]
    ns["optim"], left["optim"] = _public(optim_names, lambda n: True)

    sched = [n for n in dir(lr) if inspect.isclass(getattr(lr, n))
             and (issubclass(getattr(lr, n), lr.LRScheduler) or n == "ReduceLROnPlateau")]
    ns["optim.lr_scheduler"], left["optim.lr_scheduler"] = _public(sched, lambda n: True)

    ns["utils.data"], left["utils.data"] = _public(data.__all__, lambda n: True)
    ns["linalg"], left["linalg"] = [n for n in LINALG if hasattr(torch.linalg, n)], {}

    import torch.autograd as ag
    ag_names = list(ag.__all__) + [f"functional.{n}" for n in ag.functional.__all__
                                    if not n.startswith("_")] + ["graph.saved_tensors_hooks",
                                                                 "graph.save_on_cpu"]
    ns["autograd"], left["autograd"] = _public(ag_names, lambda n: n not in {
        "variable", "Variable", "NestedIOFunction", "handle_torch_function",
        "has_torch_function"})
    return {"torch_version": torch.__version__.split("+")[0], "namespaces": ns,
            "left_out": left}


NUMERIC_SAMPLE = [
    ("abs", lambda m, x: m.abs(x)), ("exp", lambda m, x: m.exp(x)),
    ("sigmoid", lambda m, x: m.sigmoid(x)), ("tanh", lambda m, x: m.tanh(x)),
    ("atan", lambda m, x: m.atan(x)), ("asinh", lambda m, x: m.asinh(x)),
    ("erf", lambda m, x: m.erf(x)), ("trunc", lambda m, x: m.trunc(x * 3)),
    ("fmod", lambda m, x: m.fmod(x * 3, 1.5)), ("remainder", lambda m, x: m.remainder(x, 0.7)),
    ("sum", lambda m, x: x.sum(dim=1)), ("mean axis", lambda m, x: x.mean(axis=0)),
    ("std", lambda m, x: x.std(dim=1)), ("var", lambda m, x: m.var(x, dim=0, correction=0)),
    ("logsumexp", lambda m, x: m.logsumexp(x, 1)), ("cumprod", lambda m, x: m.cumprod(x, 1)),
    ("softmax", lambda m, x: m.softmax(x, 1)), ("sort", lambda m, x: m.sort(x, 1).values),
    ("topk", lambda m, x: m.topk(x, 2).values), ("median", lambda m, x: x.median(1).values),
    ("quantile", lambda m, x: m.quantile(x, 0.3, dim=1)),
    ("diagonal", lambda m, x: m.diagonal(x, 1)), ("unfold", lambda m, x: x.unfold(1, 2, 1)),
    ("repeat_interleave", lambda m, x: m.repeat_interleave(x, 2, dim=0)),
    ("linalg.norm", lambda m, x: m.linalg.norm(x)),
    ("linalg.svdvals", lambda m, x: m.linalg.svd(x).S),
    ("F.gelu", lambda m, x: m.nn.functional.gelu(x)),
    ("F.layer_norm", lambda m, x: m.nn.functional.layer_norm(x, (x.shape[-1],))),
    ("F.interpolate", lambda m, x: m.nn.functional.interpolate(
        x[None, None], scale_factor=2, mode="bilinear", align_corners=False)),
    ("F.cross_entropy", lambda m, x: m.nn.functional.cross_entropy(x, m.tensor([0, 1, 2, 3]))),
    ("i0", lambda m, x: m.i0(x * 3)), ("polygamma(2)", lambda m, x: m.polygamma(2, x.abs() + .5)),
    ("mvlgamma", lambda m, x: m.mvlgamma(x.abs() + 2, 3)),
    ("frexp", lambda m, x: m.frexp(x * 100)[0]), ("ldexp", lambda m, x: m.ldexp(x, m.tensor(3))),
    ("matrix_exp", lambda m, x: m.matrix_exp(x[:4, :4])),
    ("gradient", lambda m, x: m.gradient(x, spacing=0.5, dim=1)[0]),
    ("histogram", lambda m, x: m.histogram(x, 5, range=(-2.0, 2.0))[0]),
    ("linalg.svd grad", lambda m, x: _grad(m, lambda a: m.linalg.svd(a, full_matrices=False)
                                            .S.sum(), x)),
    ("linalg.qr grad", lambda m, x: _grad(m, lambda a: m.linalg.qr(a).R.abs().sum(), x.mT)),
    ("autograd hessian", lambda m, x: m.autograd.functional.hessian(
        lambda v: (v.sin() * v).sum(), x[0])),
]


def _grad(m, fn, x):
    x = x.detach().requires_grad_(True)
    fn(x).backward()
    return x.grad


def numerics() -> list[tuple[str, float]]:
    """Largest absolute difference between torch and corefw on a sample of functions."""
    import numpy as np
    import torch

    import corefw

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    out = []
    for name, fn in NUMERIC_SAMPLE:
        try:
            a = fn(torch, torch.tensor(x)).detach().numpy()
            b = fn(corefw, corefw.tensor(x)).numpy()
            out.append((name, float(np.max(np.abs(a - b))) if a.shape == b.shape else
                        float("inf")))
        except Exception as e:  # noqa: BLE001 - reported, not raised
            out.append((name, f"error: {type(e).__name__}: {e}"[:80]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extract", action="store_true", help="list torch's names (needs torch)")
    ap.add_argument("--numerics", action="store_true", help="compare numerics with torch")
    args = ap.parse_args(argv)
    if args.extract:
        data = extract()
        torch_compat.NAMES_FILE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"wrote {torch_compat.NAMES_FILE.relative_to(ROOT)}")
    page = torch_compat.render()
    torch_compat.PAGE.write_text(page)
    print(f"wrote {torch_compat.PAGE.relative_to(ROOT)}")
    for ns, (have, total) in torch_compat.summary().items():
        print(f"{ns:22} {have:4}/{total:<4} {100.0 * have / max(total, 1):5.1f}%")
    if args.numerics:
        for name, diff in numerics():
            print(f"{name:22} max |torch - corefw| = {diff}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
