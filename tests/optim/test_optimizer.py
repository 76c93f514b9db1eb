"""The Optimizer base class: parameter groups, zero_grad, hooks, state_dict/load_state_dict,
and an end-to-end check that the optimizers minimize a quadratic."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import corefw
from corefw.errors import StateDictError
from corefw.optim import SGD, Adagrad, Adam, AdamW, Optimizer, OptimizerStateDictError, RMSprop


def _params(seed=0, dtype=None, device=None):
    rng = np.random.default_rng(seed)
    return [corefw.tensor(rng.standard_normal(s), dtype=dtype or corefw.float64,
                          requires_grad=True, device=device) for s in [(3, 2), (4,)]]


# ----------------------------------------------------------------------------- parameter groups
def test_param_groups_with_different_lrs(problem, set_grads, device):
    params_np, grads = problem(seed=11, steps=5, shapes=[(3,), (2, 2)])
    a, b = (corefw.tensor(p, dtype=corefw.float64, requires_grad=True, device=device)
            for p in params_np)
    opt = SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.0}], lr=0.1,
              momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.0]
    assert opt.param_groups[1]["params"][0] is b
    ta, tb, buf = params_np[0].copy(), params_np[1].copy(), None
    for ga, gb in grads:
        set_grads([a, b], [ga, gb])
        opt.step()
        buf = ga.copy() if buf is None else 0.9 * buf + ga
        ta, tb = ta - 0.1 * buf, tb - 0.5 * gb
    np.testing.assert_allclose(a.detach().numpy(), ta, rtol=1e-12)
    np.testing.assert_allclose(b.detach().numpy(), tb, rtol=1e-12)


def test_adam_param_groups_with_different_lrs(device):
    a, b = _params(device=device)
    opt = Adam([{"params": [a], "lr": 0.1}, {"params": [b]}], lr=0.01)
    a0, b0 = a.detach().numpy().copy(), b.detach().numpy().copy()
    a.grad = corefw.ones_like(a)
    b.grad = corefw.ones_like(b)
    opt.step()  # the first Adam step moves every coordinate by lr * g / (|g| + eps)
    np.testing.assert_allclose(a0 - a.detach().numpy(), 0.1 / (1 + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(b0 - b.detach().numpy(), 0.01 / (1 + 1e-8), rtol=1e-12)


def test_params_accepts_generators_and_add_param_group():
    a, b = _params()
    opt = SGD((p for p in [a]), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 1 and opt.param_groups[0]["params"][0] is a
    opt.add_param_group({"params": b, "lr": 0.2})
    assert opt.param_groups[1]["params"][0] is b
    assert opt.param_groups[1]["lr"] == 0.2 and opt.param_groups[1]["momentum"] == 0
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_param_validation_errors():
    a, b = _params()
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        SGD(a)
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([])
    with pytest.raises(TypeError, match="ordered collections"):
        SGD([{"params": {a}}])
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        SGD([a, 3.0])
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([a * 2])
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [a]}, {"params": [a, b]}])


def test_zero_grad(device):
    a, b = _params(device=device)
    opt = SGD([a, b], lr=0.1)
    a.grad = corefw.ones_like(a)
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and b.grad is None
    np.testing.assert_array_equal(a.grad.numpy(), np.zeros((3, 2)))
    opt.zero_grad()
    assert a.grad is None


def test_step_hooks_run_in_order_and_can_be_removed():
    (a, _) = _params()
    opt = SGD([a], lr=0.1)
    calls = []
    h1 = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", o is opt)))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", o is opt)))
    opt.step()
    assert calls == [("pre", True), ("post", True)]
    h1.remove()
    opt.step()
    assert calls[2:] == [("post", True)]


def test_repr_lists_groups():
    (a, _) = _params()
    text = repr(Adam([a], lr=0.5))
    assert text.startswith("Adam (") and "Parameter Group 0" in text and "lr: 0.5" in text


# ----------------------------------------------------------------------------- state dicts
MAKERS = {
    "sgd-momentum": lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam-amsgrad": lambda p: Adam(p, lr=0.05, amsgrad=True),
    "adamw": lambda p: AdamW(p, lr=0.05, weight_decay=0.1),
    "rmsprop-centered": lambda p: RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda p: Adagrad(p, lr=0.1, lr_decay=0.1),
}


def _grads(seed, n):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal((3, 2)), rng.standard_normal(4)] for _ in range(n)]


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_state_dict_round_trip_continues_identically(name, set_grads, device):
    make = MAKERS[name]
    pa = _params(1, device=device)
    opt_a = make(pa)
    grads = _grads(2, 6)
    for g in grads[:3]:
        set_grads(pa, g)
        opt_a.step()
    sd = opt_a.state_dict()
    pb = [corefw.tensor(p.detach().numpy().copy(), dtype=corefw.float64, requires_grad=True,
                        device=device) for p in pa]
    opt_b = make(pb)
    opt_b.load_state_dict(sd)
    for g in grads[3:]:
        set_grads(pa, g)
        set_grads(pb, g)
        opt_b.step()
        opt_a.step()
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(x.detach().numpy(), y.detach().numpy())
    sb = opt_b.state_dict()["state"]
    assert sb.keys() == sd["state"].keys()
    for k in sb:  # opt_b copied the state: it shares no buffer with opt_a
        assert sb[k].keys() == sd["state"][k].keys()
        for n in sb[k]:
            assert sb[k][n] is not sd["state"][k][n]
            np.testing.assert_array_equal(sb[k][n].numpy(), sd["state"][k][n].numpy())


def test_state_dict_layout_matches_pytorch(device):
    a, b = _params(device=device)
    c = corefw.zeros(2, dtype=corefw.float64, requires_grad=True, device=device)
    opt = Adam([{"params": [a, b]}, {"params": [c], "lr": 0.1}], lr=0.01)
    a.grad, c.grad = corefw.ones_like(a), corefw.ones_like(c)  # b has no grad: no state
    opt.step()
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sorted(sd["state"]) == [0, 2]
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    step = sd["state"][0]["step"]
    assert isinstance(step, corefw.Tensor) and step.dim() == 0 and step.dtype == corefw.float32
    assert step.item() == 1.0
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"} <= set(
        sd["param_groups"][0])


def test_load_state_dict_restores_hyperparameters_and_casts_dtype(set_grads, device):
    pa = _params(3, corefw.float64, device=device)
    opt_a = Adam(pa, lr=0.03)
    set_grads(pa, _grads(4, 1)[0])
    opt_a.step()
    opt_a.param_groups[0]["lr"] = 0.007
    pb = _params(3, corefw.float32, device=device)
    opt_b = Adam(pb, lr=1.0)
    opt_b.load_state_dict(opt_a.state_dict())
    assert opt_b.param_groups[0]["lr"] == 0.007
    assert opt_b.param_groups[0]["params"][0] is pb[0]
    st = opt_b.state[pb[0]]
    assert st["exp_avg"].dtype == corefw.float32
    assert st["step"].dtype == corefw.float32
    np.testing.assert_allclose(st["exp_avg"].numpy(), opt_a.state[pa[0]]["exp_avg"].numpy(),
                               rtol=1e-6)


def test_load_state_dict_does_not_mutate_the_given_dict(set_grads, device):
    pa = _params(5, device=device)
    opt = SGD(pa, lr=0.1, momentum=0.9)
    set_grads(pa, _grads(6, 1)[0])
    opt.step()
    sd = opt.state_dict()
    sd = {"state": {k: {n: v.clone() for n, v in s.items()} for k, s in sd["state"].items()},
          "param_groups": copy.deepcopy(sd["param_groups"])}
    before = {k: s["momentum_buffer"].numpy().copy() for k, s in sd["state"].items()}
    groups_before = copy.deepcopy(sd["param_groups"])
    opt2 = SGD(_params(5, device=device), lr=0.5, momentum=0.9)
    opt2.load_state_dict(sd)
    opt2.param_groups[0]["lr"] = 123.0
    for p in opt2.param_groups[0]["params"]:
        p.grad = corefw.ones_like(p)
    opt2.step()
    for k, s in sd["state"].items():
        np.testing.assert_array_equal(s["momentum_buffer"].numpy(), before[k])
    assert sd["param_groups"] == groups_before


def test_load_state_dict_errors(set_grads):
    pa = _params(7)
    opt = Adam(pa)
    set_grads(pa, _grads(8, 1)[0])
    opt.step()
    sd = opt.state_dict()
    two_groups = Adam([{"params": [pa[0]]}, {"params": [pa[1]]}])
    with pytest.raises(OptimizerStateDictError, match="different number of parameter groups"):
        two_groups.load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        Adam([pa[0]]).load_state_dict({"state": {}, "param_groups": [{"params": [0, 1]}]})
    with pytest.raises(StateDictError, match="'state' and 'param_groups'"):
        Adam(pa).load_state_dict({"param_groups": []})
    swapped = _params(7)[::-1]  # same sizes, wrong shapes
    with pytest.raises(OptimizerStateDictError, match=r"shape \(3, 2\).*shape \(4,\)"):
        Adam(swapped).load_state_dict(sd)


def test_state_dict_through_save_and_load(tmp_path, set_grads, device):
    save = getattr(corefw, "save", None)
    if save is None:
        pytest.skip("corefw.save is not available")
    pa = _params(9, device=device)
    opt = AdamW(pa, lr=0.01, amsgrad=True)
    grads = _grads(10, 4)
    for g in grads[:2]:
        set_grads(pa, g)
        opt.step()
    path = tmp_path / "opt.safetensors"
    corefw.save(opt.state_dict(), path)
    loaded = corefw.load(path)
    pb = [corefw.tensor(p.detach().numpy().copy(), dtype=corefw.float64, requires_grad=True,
                        device=device) for p in pa]
    opt_b = AdamW(pb, lr=0.5)
    opt_b.load_state_dict(loaded)
    assert opt_b.param_groups[0]["betas"] == (0.9, 0.999)
    for g in grads[2:]:
        set_grads(pa, g)
        set_grads(pb, g)
        opt.step()
        opt_b.step()
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(x.detach().numpy(), y.detach().numpy())


# ----------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("make", [
    lambda p: SGD(p, lr=0.1),
    lambda p: SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    lambda p: Adam(p, lr=0.1),
    lambda p: AdamW(p, lr=0.1),
    lambda p: RMSprop(p, lr=0.05),
    lambda p: Adagrad(p, lr=0.5),
])
def test_optimizers_decrease_a_quadratic_loss(make, device):
    rng = np.random.default_rng(0)
    target = corefw.tensor(rng.standard_normal(5), device=device)
    scale = corefw.tensor(np.linspace(0.5, 2.0, 5), device=device)
    w = corefw.zeros(5, dtype=corefw.float64, requires_grad=True, device=device)
    opt = make([w])

    def closure():
        opt.zero_grad()
        loss = (scale * (w - target) ** 2).sum()
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(60)]
    assert losses[-1] < 0.05 * losses[0]
    assert all(np.isfinite(losses))


def test_subclass_step_without_hooks_machinery_still_works(device):
    class Plain(Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.5})

        def step(self, closure=None):
            with corefw.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.add_(p.grad, alpha=-group["lr"])

    (a, _) = _params(device=device)
    a0 = a.detach().numpy().copy()
    a.grad = corefw.ones_like(a)
    opt = Plain([a])
    opt.step()
    assert opt._opt_called
    np.testing.assert_allclose(a.detach().numpy(), a0 - 0.5)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "Adamax", "NAdam",
                                  "RMSprop", "Adadelta", "ASGD"])
def test_every_optimizer_takes_a_tensor_lr_and_refuses_a_bad_one(name):
    """A 1-element floating tensor lr gives the float lr's update (eagerly; compiled, see
    tests/compiler/test_breaks_optim.py); a multi-element, integer or negative one is a
    ValueError naming it."""
    cls = getattr(corefw.optim, name)
    grads = [corefw.tensor([0.5, -1.0, 2.0]), corefw.tensor([-0.25, 1.5, 0.125])]
    got = []
    for lr in (0.05, corefw.tensor(0.05, dtype=corefw.float64)):
        w = corefw.tensor([1.0, 2.0, -3.0], requires_grad=True)
        opt = cls([w], lr=lr)
        for g in grads:
            w.grad = g.clone()
            opt.step()
        got.append(w.detach().numpy())
    np.testing.assert_array_equal(got[0], got[1])
    w = corefw.zeros(3, requires_grad=True)
    for bad, match in ((corefw.tensor([0.1, 0.2]), r"Tensor lr must be 1-element"),
                       (corefw.tensor(1), r"Tensor lr must be 1-element and floating point"),
                       (corefw.tensor(-0.1), r"Invalid learning rate")):
        with pytest.raises(ValueError, match=match):
            cls([w], lr=bad)
