"""corefw.bfloat16: PyTorch's promotion and limits, the Tensor API, corefw-cpu's float32
computation, serialization, laziness, and the error of a backend without it.

Op-by-op numerics (forward against float64, backward by finite differences) are the op table's
bfloat16 rows (tests/ops/test_op_table.py, the conformance kit).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import corefw
from corefw.errors import DTypeError

BF = corefw.bfloat16


def test_promotion_is_pytorchs():
    pt = corefw.promote_types
    assert pt(BF, corefw.float16) is corefw.float32 and pt(corefw.float16, BF) is corefw.float32
    assert pt(BF, corefw.float32) is corefw.float32 and pt(BF, corefw.float64) is corefw.float64
    for i in (corefw.bool_, corefw.uint8, corefw.int8, corefw.int32, corefw.int64):
        assert pt(i, BF) is BF and pt(BF, i) is BF
    assert pt(BF, BF) is BF
    x = corefw.ones(3, dtype=BF)
    assert (x + 2.5).dtype is BF and (2 * x).dtype is BF
    assert (x + corefw.tensor(1.0, dtype=corefw.float64)).dtype is BF  # 0-d ranks lower
    assert (corefw.tensor([1, 2, 3]) + x).dtype is BF
    assert (x + corefw.ones(3, dtype=corefw.float16)).dtype is corefw.float32


def test_finfo_has_pytorchs_values():
    fi = corefw.finfo(BF)
    assert (fi.bits, fi.eps, fi.tiny, fi.resolution) == (16, 0.0078125, 2.0 ** -126, 0.01)
    assert fi.max == 3.3895313892515355e+38 == -fi.min
    assert fi.dtype == "bfloat16"
    assert fi.max == float(np.asarray(fi.max, dtype=BF.np))  # representable


def test_tensor_api():
    x = corefw.tensor([1.0, -2.5, 3.0])
    b = x.bfloat16()
    assert b.dtype is BF and x.to(BF).dtype is BF and x.to(dtype="bfloat16").dtype is BF
    assert b.is_floating_point() and b.element_size() == 2 and b.dtype.itemsize == 2
    assert b.dtype.is_floating_point and b.dtype.is_signed
    assert repr(b) == "tensor([ 1.0000, -2.5000,  3.0000], dtype=corefw.bfloat16)"
    assert b.tolist() == [1.0, -2.5, 3.0] and b.float().dtype is corefw.float32
    assert corefw.zeros(2, dtype=BF).dtype is BF and corefw.randn(4, dtype=BF).dtype is BF
    r = corefw.rand(10_000, dtype=BF)
    assert r.dtype is BF and float(r.max()) < 1.0 and float(r.min()) >= 0.0
    assert corefw.from_numpy(b.numpy()).dtype is BF
    assert b.type() == "torch.BFloat16Tensor" and corefw.BFloat16Tensor([1.0]).dtype is BF
    meta = corefw.ones(2, 3, dtype=BF, device="meta")  # shapes and dtypes only
    assert (meta @ corefw.ones(3, dtype=BF, device="meta") + 1.5).dtype is BF
    m = corefw.nn.Linear(3, 2).bfloat16()
    assert m.weight.dtype is BF and m(b).dtype is BF


def test_rounds_to_nearest_even_like_pytorch():
    x = corefw.tensor([1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 1 / 3], dtype=corefw.float32)
    np.testing.assert_array_equal(x.bfloat16().float().numpy(),
                                  [1.0, 1.0 + 2 ** -6, 0.333984375])


def test_cpu_computes_in_float32_and_rounds_back():
    ones = corefw.ones(10_000, dtype=BF)
    assert ones.sum().item() == 9984.0  # 10,000 to bfloat16's nearest; bfloat16 adds give 256
    assert ones.mean().item() == 1.0
    a = corefw.randn(64, 48)
    b = corefw.randn(48, 32)
    got = (a.bfloat16() @ b.bfloat16())
    assert got.dtype is BF
    want = (a.bfloat16().double() @ b.bfloat16().double()).numpy()
    np.testing.assert_allclose(got.double().numpy(), want, rtol=2 ** -8, atol=1e-2)
    e = corefw.einsum("ij,jk->ik", a.bfloat16(), b.bfloat16())  # NumPy's einsum refuses it
    assert e.dtype is BF
    y = corefw.tensor([1.0, 2.0, 3.0], dtype=BF)
    assert (y + 1.5).dtype is BF and (y / 3).tolist() == [0.333984375, 0.66796875, 1.0]


def test_gradients_are_bfloat16():
    w = corefw.randn(3, 4, dtype=BF, requires_grad=True)
    x = corefw.randn(5, 3, dtype=BF)
    (x @ w).tanh().sum().backward()
    assert w.grad.dtype is BF
    w32 = w.detach().float().requires_grad_()
    (x.float() @ w32).tanh().sum().backward()
    np.testing.assert_allclose(w.grad.float().numpy(), w32.grad.numpy(), rtol=3e-2, atol=3e-2)


def test_an_optimizer_step_keeps_bfloat16():
    p = corefw.nn.Parameter(corefw.ones(4, dtype=BF))
    opt = corefw.optim.Adam([p], lr=0.1)
    p.sum().backward()
    opt.step()
    assert p.dtype is BF and np.allclose(p.detach().float().numpy(), 0.9, atol=4e-3)


def test_safetensors_round_trip_keeps_bfloat16(tmp_path):
    path = tmp_path / "bf.safetensors"
    x = corefw.randn(3, 4).bfloat16()
    corefw.save({"x": x, "n": 3}, path)
    back = corefw.load(path)
    assert back["x"].dtype is BF and back["n"] == 3
    np.testing.assert_array_equal(back["x"].float().numpy(), x.float().numpy())
    assert b'"dtype":"BF16"' in path.read_bytes()


def _plain_bf16_file(path, values):
    """A safetensors file as ``safetensors.torch.save_file`` writes one: a BF16 tensor."""
    import json
    import struct

    bits = (np.asarray(values, np.float32).view(np.uint32) >> 16).astype("<u2")
    header = json.dumps({"w": {"dtype": "BF16", "shape": [len(values)],
                               "data_offsets": [0, bits.nbytes]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bits.tobytes())


def test_a_plain_bf16_file_loads_as_bfloat16(tmp_path):
    path = tmp_path / "plain.safetensors"
    _plain_bf16_file(path, [1.0, -2.5, 0.333984375])
    w = corefw.load(path)["w"]
    assert w.dtype is BF and w.tolist() == [1.0, -2.5, 0.333984375]


def test_bf16_files_widen_to_float32_where_the_target_lacks_it(tmp_path, monkeypatch):
    from corefw.dispatch import device_of

    path = tmp_path / "plain.safetensors"
    _plain_bf16_file(path, [1.0, -2.5, 0.333984375])
    cpu = device_of("cpu").backend
    monkeypatch.setattr(type(cpu), "dtypes", cpu.dtypes - {"bfloat16"})
    w = corefw.load(path)["w"]  # exactly: bfloat16 is float32's upper half
    assert w.dtype is corefw.float32 and w.tolist() == [1.0, -2.5, 0.333984375]


def test_import_corefw_does_not_import_ml_dtypes():
    code = ("import sys, corefw; x = corefw.ones(3) + 1; corefw.promote_types(corefw.bfloat16,"
            " corefw.float16); corefw.finfo(corefw.bfloat16); assert 'ml_dtypes' not in "
            "sys.modules; corefw.ones(2, dtype=corefw.bfloat16); assert 'ml_dtypes' in "
            "sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_backend_without_bfloat16_refuses_it_naming_both():
    import corefw.dispatch as d
    from corefw.backend import ArrayModuleBackend

    d.backends()
    saved = [(reg, dict(reg)) for reg in (d.BACKENDS, d._OWNERS, d._DEVICES, d._pending_rng)]
    d.register_backend(ArrayModuleBackend(np, device_type="nobf16", name="plain-numpy"),
                       owner="tests")
    try:
        x = corefw.ones(3, device="nobf16")
        with pytest.raises(DTypeError, match=r"backend 'plain-numpy' \(nobf16\) does not "
                                             r"support corefw.bfloat16"):
            x.bfloat16()
        with pytest.raises(DTypeError, match="plain-numpy.*bfloat16"):
            corefw.zeros(2, dtype=BF, device="nobf16")
        with pytest.raises(DTypeError, match="bfloat16"):
            corefw.ones(2, dtype=BF).to("nobf16")
    finally:
        for reg, before in saved:
            reg.clear()
            reg.update(before)


def test_cuda_declares_bfloat16_only_if_cupy_has_it():
    from corefw_cuda.backend import CupyBackend

    assert "bfloat16" not in CupyBackend.dtypes  # CuPy has no bfloat16 dtype
