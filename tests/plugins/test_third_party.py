"""What a third-party plugin (dists/toy) adds actually works: a backend, an op with its VJP on
every backend, a layer, an explainer; and the core's device rules hold for its device."""

from __future__ import annotations

import numpy as np


def test_new_op_works_with_autograd_on_every_backend(snippet):
    out = snippet("""
        import numpy as np
        from corefw.autograd import grad, gradcheck
        from corefw_toy import softclip
        from corefw.ops import get_op
        xs = np.linspace(-3.0, 3.0, 7)
        for dev in ("cpu", "toydev"):
            x = corefw.tensor(xs, device=dev, requires_grad=True)
            y = softclip(x, 2.0)
            (g,) = grad(y.sum(), [x], create_graph=True)
            (h,) = grad(g.sum(), [x])
            k = corefw.device(dev).table["toy_softclip"]
            out[dev] = {"device": str(y.device), "y": y.cpu().tolist(), "g": g.cpu().tolist(),
                        "h": h.cpu().tolist(), "gradcheck": gradcheck(
                            lambda t: softclip(t, 2.0), (x,)),
                        "decomposed": getattr(k, "decomposed", False),
                        "kernel": getattr(k, "__name__", "")}
            x32 = corefw.tensor(xs, dtype=corefw.float32, device=dev)
            out[dev]["dtype32"] = str(softclip(x32, 2.0).dtype)
        x = corefw.tensor(xs)
        out["decomposition"] = get_op("toy_softclip").decomposition(x, limit=2.0).tolist()
    """, dists=("toy",))
    xs = np.linspace(-3.0, 3.0, 7)
    t = np.tanh(xs / 2.0)
    for dev in ("cpu", "toydev"):
        res = out[dev]
        assert res["device"] == dev
        np.testing.assert_allclose(res["y"], 2.0 * t, rtol=1e-12)
        np.testing.assert_allclose(res["g"], 1 - t * t, rtol=1e-12)        # d/dx
        np.testing.assert_allclose(res["h"], -t * (1 - t * t), atol=1e-12)  # d2/dx2
        assert res["gradcheck"] is True
        assert res["dtype32"] == "corefw.float32"
    # cpu runs the plugin's kernel, toydev (no kernel) runs the decomposition
    assert out["cpu"]["kernel"] == "softclip_kernel" and not out["cpu"]["decomposed"]
    assert out["toydev"]["decomposed"] is True
    np.testing.assert_allclose(out["decomposition"], 2.0 * t, rtol=1e-12)


def test_mixed_devices_raise_naming_both(snippet):
    out = snippet("""
        a, b = corefw.ones(3, device="toydev"), corefw.ones(3)
        try:
            a + b
        except corefw.errors.DeviceError as e:
            out["error"] = str(e)
        back = corefw.tensor([1.5, -2.0]).to("toydev")
        out["roundtrip"] = [str(back.device), back.to("cpu").tolist()]
    """, dists=("toy",))
    assert "toydev" in out["error"] and "cpu" in out["error"] and "add" in out["error"]
    assert out["roundtrip"] == ["toydev", [1.5, -2.0]]


def test_fallback_policy_for_an_op_the_backend_lacks(snippet):
    out = snippet("""
        import numpy as np
        rng = np.random.default_rng(0)
        an, bn = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
        a = corefw.tensor(an, device="toylite", requires_grad=True)
        b = corefw.tensor(bn, device="toylite")
        out["policy"] = corefw.get_fallback_policy()
        try:
            a @ b
        except corefw.errors.KernelNotFoundError as e:
            out["error"] = str(e)
        out["ledger_after_error"] = len(corefw.fallback_ledger())
        corefw.set_fallback_policy("cpu")
        c = a @ b
        out["device"] = str(c.device)
        out["c"] = c.cpu().tolist()
        c.sum().backward()
        out["grad"] = a.grad.cpu().tolist()
        out["ledger"] = [[op, dev, n] for (op, dev), n in corefw.fallback_ledger().items()]
        corefw.set_fallback_policy("warn")
        a.detach() @ b
        corefw.reset_fallback_ledger()
        out["reset"] = corefw.fallback_ledger()
        out["all_warnings"] = [m for c, m in caught]
    """, dists=("toy",))
    assert out["policy"] == "error"
    assert "'matmul'" in out["error"] and "toylite" in out["error"]
    assert out["ledger_after_error"] == 0
    rng = np.random.default_rng(0)
    an, bn = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    assert out["device"] == "toylite"
    np.testing.assert_allclose(out["c"], an @ bn, rtol=1e-12)
    np.testing.assert_allclose(out["grad"], np.ones((2, 4)) @ bn.T, rtol=1e-12)
    ((op, dev, n),) = out["ledger"]
    assert (op, dev) == ("matmul", "toylite") and n >= 2  # forward and backward
    assert out["reset"] == {}
    assert any("matmul" in m and "toylite" in m for m in out["all_warnings"])


def test_layer_and_explainer_from_the_catalogues(snippet):
    out = snippet("""
        import numpy as np
        layer = corefw.layers()["ToyScale"](3)
        with corefw.no_grad():
            layer.scale.copy_(corefw.tensor([2.0, -1.0, 0.5]))
        x = corefw.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        out["forward"] = layer(x).tolist()
        out["params"] = [n for n, _ in layer.named_parameters()]
        explainer = corefw.explainers()["toy_saliency"](layer)
        out["saliency"] = explainer.attribute(x, target=1).tolist()
    """, dists=("toy",))
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_allclose(out["forward"], x * [2.0, -1.0, 0.5])
    assert out["params"] == ["scale"]
    # d(sum_i x_i1 * s_1)/dx = s_1 in column 1, zero elsewhere
    np.testing.assert_allclose(out["saliency"], [[0.0, -1.0, 0.0], [0.0, -1.0, 0.0]])

