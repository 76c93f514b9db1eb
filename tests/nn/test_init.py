"""corefw.nn.init against PyTorch's closed forms: gains, fans, bounds and sample moments."""

import math

import numpy as np
import pytest

import corefw
from corefw.nn import init


def _np(t):
    return np.array(t.detach().cpu().numpy(), dtype=np.float64)


def _check_moments(x, mean, std, n_sigma=5.0):
    """Sample mean and std of x agree with (mean, std) within n_sigma standard errors."""
    n = x.size
    assert abs(x.mean() - mean) <= n_sigma * std / math.sqrt(n)
    # std of the sample variance of a distribution with kurtosis <= 3 is <= var*sqrt(2/n)
    assert abs(x.var() - std**2) <= n_sigma * std**2 * math.sqrt(2.0 / n)


# ---- gains and fans ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("linear", 1.0), ("conv1d", 1.0), ("conv2d", 1.0), ("conv3d", 1.0),
    ("conv_transpose2d", 1.0), ("sigmoid", 1.0), ("tanh", 5.0 / 3), ("relu", math.sqrt(2.0)),
    ("leaky_relu", math.sqrt(2.0 / (1 + 0.01**2))), ("selu", 0.75),
])
def test_calculate_gain_table(name, expected):
    assert init.calculate_gain(name) == pytest.approx(expected, rel=1e-15)


def test_calculate_gain_leaky_relu_slope_and_errors():
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("leaky_relu", 0) == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "x")
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")


@pytest.mark.parametrize("shape, fans", [
    ((5, 3), (3, 5)), ((16, 8, 3, 5), (120, 240)), ((4, 2, 7), (14, 28)),
    ((6, 1, 2, 2, 2), (8, 48)),
])
def test_fan_in_and_fan_out(shape, fans):
    assert init._calculate_fan_in_and_fan_out(corefw.empty(*shape)) == fans


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(corefw.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(corefw.empty(3, 3), mode="fan_avg")


# ---- distributions ----------------------------------------------------------------------------
def test_uniform_bounds_and_moments(device):
    corefw.manual_seed(0)
    t = init.uniform_(corefw.empty(200, 300, device=device), -0.5, 1.5)
    x = _np(t)
    assert x.min() >= -0.5 and x.max() < 1.5
    assert x.min() < -0.49 and x.max() > 1.49
    _check_moments(x, 0.5, 2.0 / math.sqrt(12))


def test_normal_moments(device):
    corefw.manual_seed(1)
    x = _np(init.normal_(corefw.empty(200, 300, device=device), 2.0, 0.5))
    _check_moments(x, 2.0, 0.5)


def test_xavier_uniform_bound(device):
    corefw.manual_seed(2)
    t = init.xavier_uniform_(corefw.empty(200, 300, device=device), gain=2.0)
    bound = 2.0 * math.sqrt(6.0 / 500)
    x = _np(t)
    assert np.abs(x).max() <= bound * (1 + 1e-6)
    assert np.abs(x).max() > 0.99 * bound
    _check_moments(x, 0.0, bound / math.sqrt(3))


def test_xavier_normal_std_conv_shape(device):
    corefw.manual_seed(3)
    t = init.xavier_normal_(corefw.empty(32, 16, 5, 5, device=device))
    std = math.sqrt(2.0 / (16 * 25 + 32 * 25))
    _check_moments(_np(t), 0.0, std)


def test_kaiming_uniform_default_linear_bound(device):
    # PyTorch's Linear/Conv default: kaiming_uniform_(w, a=sqrt(5)) -> bound = 1/sqrt(fan_in)
    corefw.manual_seed(4)
    t = init.kaiming_uniform_(corefw.empty(64, 16, 3, 3, device=device), a=math.sqrt(5))
    bound = math.sqrt(1 / 3) * math.sqrt(3.0 / 144)
    assert bound == pytest.approx(1 / 12)
    x = _np(t)
    assert np.abs(x).max() <= bound * (1 + 1e-6) and np.abs(x).max() > 0.99 * bound
    _check_moments(x, 0.0, bound / math.sqrt(3))


def test_kaiming_uniform_fan_out_relu(device):
    corefw.manual_seed(5)
    t = init.kaiming_uniform_(corefw.empty(100, 400, device=device), mode="fan_out",
                              nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / 100)
    x = _np(t)
    assert np.abs(x).max() <= bound * (1 + 1e-6) and np.abs(x).max() > 0.99 * bound


def test_kaiming_normal_std(device):
    corefw.manual_seed(6)
    t = init.kaiming_normal_(corefw.empty(300, 200, device=device), nonlinearity="relu")
    _check_moments(_np(t), 0.0, math.sqrt(2.0) / math.sqrt(200))
    t = init.kaiming_normal_(corefw.empty(300, 200, device=device), a=0.1, mode="fan_out")
    _check_moments(_np(t), 0.0, math.sqrt(2.0 / 1.01) / math.sqrt(300))


def test_kaiming_zero_element_tensor_is_a_noop(device):
    t = corefw.empty(0, 3, device=device)
    with pytest.warns(UserWarning, match="zero-element"):
        assert init.kaiming_uniform_(t) is t


def _trunc_normal_moments(mean, std, a, b):
    """Closed-form mean and std of N(mean, std^2) truncated to [a, b]."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))
    z = cdf(beta) - cdf(alpha)
    m = mean + std * (pdf(alpha) - pdf(beta)) / z
    var = std**2 * (1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z
                    - ((pdf(alpha) - pdf(beta)) / z) ** 2)
    return m, math.sqrt(var)


@pytest.mark.parametrize("mean, std, a, b", [
    (0.0, 1.0, -2.0, 2.0), (0.5, 2.0, -1.0, 4.0), (0.0, 1.0, 1.5, 3.5), (0.0, 0.02, -2.0, 2.0),
])
def test_trunc_normal_matches_closed_form(mean, std, a, b, device):
    corefw.manual_seed(7)
    x = _np(init.trunc_normal_(corefw.empty(200, 250, device=device), mean, std, a, b))
    assert x.min() >= a and x.max() <= b
    m, s = _trunc_normal_moments(mean, std, a, b)
    _check_moments(x, m, s)


def test_trunc_normal_far_tail_interval(device):
    # PyTorch warns when [a, b] is far in the tail; inverse-CDF sampling in float64 stays right
    corefw.manual_seed(9)
    with pytest.warns(UserWarning, match="more than 2 std"):
        t = init.trunc_normal_(corefw.empty(200, 250, device=device), mean=0.0, std=1.0, a=4.0,
                               b=5.0)
    x = _np(t)
    assert x.min() >= 4.0 and x.max() <= 5.0
    _check_moments(x, *_trunc_normal_moments(0.0, 1.0, 4.0, 5.0))


def test_erfinv_inverts_erf(device):
    y = np.concatenate([np.linspace(-0.999999, 0.999999, 2001), [1 - 1e-12, -(1 - 1e-12)]])
    x = _np(init._erfinv(corefw.tensor(y, dtype=corefw.float64, device=device)))
    back = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(back, y, rtol=0, atol=1e-13)


# ---- deterministic fills ----------------------------------------------------------------------
def test_constant_ones_zeros(device):
    t = corefw.empty(3, 4, device=device)
    np.testing.assert_array_equal(_np(init.constant_(t, 0.25)), np.full((3, 4), 0.25))
    np.testing.assert_array_equal(_np(init.ones_(t)), np.ones((3, 4)))
    np.testing.assert_array_equal(_np(init.zeros_(t)), np.zeros((3, 4)))


def test_eye(device):
    np.testing.assert_array_equal(_np(init.eye_(corefw.empty(3, 5, device=device))), np.eye(3, 5))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(corefw.empty(2, 2, 2, device=device))


@pytest.mark.parametrize("shape, groups", [((4, 3, 3, 3), 1), ((6, 2, 5), 2),
                                           ((2, 4, 3, 1, 3), 1)])
def test_dirac(shape, groups, device):
    t = init.dirac_(corefw.randn(*shape, device=device), groups=groups)
    ref = np.zeros(shape)
    per = shape[0] // groups
    centre = tuple(s // 2 for s in shape[2:])
    for g in range(groups):
        for d in range(min(per, shape[1])):
            ref[(g * per + d, d, *centre)] = 1
    np.testing.assert_array_equal(_np(t), ref)


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (8, 2, 3, 3)])
def test_orthogonal(shape, device):
    corefw.manual_seed(8)
    w = _np(init.orthogonal_(corefw.empty(*shape, device=device), gain=1.5)).reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    np.testing.assert_allclose(gram, 2.25 * np.eye(min(rows, cols)), atol=1e-5)


# ---- generators, grad mode, dtypes ------------------------------------------------------------
def test_generator_reproducible(device):
    a, b, c = (init.kaiming_uniform_(corefw.empty(5, 7, device=device),
                                     generator=corefw.Generator().manual_seed(s))
               for s in (3, 3, 4))
    np.testing.assert_array_equal(_np(a), _np(b))
    assert not np.array_equal(_np(a), _np(c))
    corefw.manual_seed(11)
    d = _np(init.normal_(corefw.empty(4, 4, device=device)))
    corefw.manual_seed(11)
    np.testing.assert_array_equal(_np(init.normal_(corefw.empty(4, 4, device=device))), d)


def test_init_on_parameter_records_no_graph_and_keeps_dtype(device):
    p = corefw.nn.Parameter(corefw.empty(4, 6, dtype=corefw.float64, device=device))
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.trunc_normal_,
               init.orthogonal_, init.zeros_):
        out = fn(p)
        assert out is p
        assert p.is_leaf and p.grad_fn is None and p.requires_grad
        assert p.dtype == corefw.float64
