"""corefw-onnx is backend-neutral: a model exported on cpu, loaded and moved to the example
third-party backend refdev gives the same outputs and gradients, a model living on refdev
exports, and a subset of ONNX's backend node tests passes there too (needs corefw-onnx,
installed by CI)."""

from __future__ import annotations

import textwrap

SCRIPT = """
import io
import numpy as np
import corefw, corefw_onnx
from corefw.demo import build_model
from corefw_onnx.backend import node_cases, run_node_case

corefw.manual_seed(0)
model = build_model("cnn").eval()
x = corefw.randn(4, 1, 8, 8)
buf = io.BytesIO()
corefw_onnx.export(model, (x,), buf, input_names=["x"], dynamic_axes={"x": {0: "b"}})
loaded = corefw_onnx.load(buf.getvalue()).to("refdev")
assert all(p.device.type == "refdev" for p in loaded.parameters())
xr = x.to("refdev").requires_grad_(True)
y = loaded(xr)
assert y.device.type == "refdev"
np.testing.assert_allclose(y.detach().numpy(), model(x).detach().numpy(), rtol=1e-5, atol=1e-6)
y.sum().backward()
xc = x.clone().requires_grad_(True)
model(xc).sum().backward()
np.testing.assert_allclose(xr.grad.numpy(), xc.grad.numpy(), rtol=1e-5, atol=1e-6)
# export traces on whatever device the model lives on
import onnxruntime as ort
on_refdev = build_model("mlp").to("refdev").eval()
xr = corefw.randn(3, 1, 8, 8).to("refdev")
buf = io.BytesIO()
corefw_onnx.export(on_refdev, (xr,), buf, input_names=["x"])
(got,) = ort.InferenceSession(buf.getvalue()).run(None, {"x": xr.numpy()})
np.testing.assert_allclose(got, on_refdev(xr).detach().numpy(), rtol=1e-5, atol=1e-6)
cases = node_cases(["add", "conv", "maxpool", "gemm", "softmax", "reshape", "slice", "gather"])
results = {n: run_node_case(c, "refdev") for n, c in cases.items()}
passed = [n for n, (s, _) in results.items() if s == "pass"]
failed = {n: d for n, (s, d) in results.items() if s == "fail"}
assert len(passed) >= 40 and not failed, failed
print("SCRIPT-OK", len(passed))
"""


def test_onnx_import_runs_on_refdev(run):
    proc = run("-c", textwrap.dedent(SCRIPT), packages=("corefw-refdev",))
    assert proc.returncode == 0 and "SCRIPT-OK" in proc.stdout, proc.stderr[-4000:]
