"""Compile-check the CUDA sources of the fused kernels with NVRTC, which needs no GPU.

CuPy compiles an ``ElementwiseKernel`` on its first call, on a GPU. Here each operation is
wrapped the way CuPy's generated loop presents it (inputs as ``const`` values, outputs as
references, ``T`` / ``S`` typedefs, CuPy's headers for ``float16``) and compiled for float16,
float32 and float64, so a typo or a type error in a kernel fails CI rather than the first GPU
run. Skipped where cupy or NVRTC (``pip install nvidia-cuda-nvrtc-cu12``) is missing.
"""

from __future__ import annotations

import os

import pytest
from corefw_cuda.kernels import ACC_PREAMBLE, ELEMENTWISE, SUMEXP

TYPES = {"float16": "float16", "float32": "float", "float64": "double"}
SCALARS = {"float64": "double", "bool": "bool"}


def _nvrtc():
    cupy = pytest.importorskip("cupy", reason="cupy is not installed")
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # noqa: BLE001 - library not found, wrong version ...
        pytest.skip(f"NVRTC is not available: {type(exc).__name__}: {str(exc)[:120]}")
    includes = [os.path.join(os.path.dirname(cupy.__file__), "_core", "include")]
    try:  # cuda_fp16.h, for float16 (pip install nvidia-cuda-runtime-cu12)
        import nvidia.cuda_runtime as cudart

        includes += [os.path.join(p, "include") for p in cudart.__path__]
    except ImportError:
        pass
    return nvrtc, includes


def _compile(source: str, name: str) -> None:
    nvrtc, includes = _nvrtc()
    if "float16.cuh" in source and not any(
            os.path.exists(os.path.join(i, "cuda_fp16.h")) for i in includes):
        pytest.skip("cuda_fp16.h not found (pip install nvidia-cuda-runtime-cu12)")
    prog = nvrtc.createProgram(source, f"{name}.cu", [], [])
    try:
        try:
            nvrtc.compileProgram(prog, [f"-I{i}" for i in includes]
                                 + ["--std=c++17", "-arch=compute_70"])
        except Exception as exc:  # noqa: BLE001 - NVRTCError: show the compiler's log
            raise AssertionError(f"{name} does not compile:\n{nvrtc.getProgramLog(prog)}\n"
                                 f"{source}") from exc
    finally:
        nvrtc.destroyProgram(prog)


def _harness(name: str, in_params: str, out_params: str, operation: str, t: str) -> str:
    args, body = [], []
    for kind, params in (("in", in_params), ("out", out_params)):
        for param in params.split(","):
            typ, var = param.split()
            if typ in SCALARS:
                args.append(f"const {SCALARS[typ]} {var}")
            elif kind == "in":
                args.append(f"const {typ}* {var}_ptr")
                body.append(f"const {typ} {var} = {var}_ptr[i];")
            else:
                args.append(f"{typ}* {var}_ptr")
                body.append(f"{typ}& {var} = {var}_ptr[i];")
    half = "#include <cupy/float16.cuh>\n" if t == "float16" else ""
    return (f"#include <cupy/carray.cuh>\n{half}{ACC_PREAMBLE}\n"
            f"typedef {TYPES[t]} T;\ntypedef {'double' if t == 'float64' else 'float'} S;\n"
            f"extern \"C\" __global__ void cfw_{name}({', '.join(args)}) {{\n"
            f"  const int i = blockIdx.x * blockDim.x + threadIdx.x;\n  " + "\n  ".join(body)
            + f"\n  {operation}\n}}\n")


@pytest.mark.parametrize("dtype", list(TYPES))
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_kernel_compiles(name, dtype):
    _compile(_harness(name, *ELEMENTWISE[name], dtype), name)


@pytest.mark.parametrize("dtype", list(TYPES))
def test_sumexp_map_expression_compiles(dtype):
    in_params, out_params, map_expr, reduce_expr, post_map, identity = SUMEXP
    op = (f"S a = (S)({map_expr}); S b = (S)({identity}); a = {reduce_expr}; {post_map};")
    _compile(_harness("sumexp", in_params, out_params, op, dtype), "sumexp")


def test_a_broken_kernel_is_reported():
    """The check can fail: an undeclared name does not compile."""
    with pytest.raises(AssertionError, match="does not compile"):
        _compile(_harness("broken", "T x", "T y", "y = x + undeclared_name;", "float32"),
                 "broken")
