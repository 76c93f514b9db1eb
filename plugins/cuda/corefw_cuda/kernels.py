"""Fast kernels for the cuda device: fused CuPy kernels plus the array-module nn kernels.

:func:`fast_kernels` builds ``{op name: kernel}`` for :class:`~corefw_cuda.backend.CupyBackend`.
The fused kernels are CuPy ``ElementwiseKernel`` / ``ReductionKernel`` objects, compiled by NVRTC
on their first call on a GPU (building them touches no device). Each one has a reference written
against ``xp`` in this module (``REFERENCES``), which the tests check against the op's
decomposition on the cpu device; on a GPU the fused kernel is checked against the reference.

Fusion saves passes over memory: softmax is one max, one sum-of-exp reduction and one
elementwise pass (four passes instead of eight); gelu/silu/sigmoid are one pass each instead of
five to seven; an Adam step updates the parameter and both moments in one pass instead of about
twelve. Half precision is computed in float32 and rounded once (``cfw_acc<T>``).
"""

from __future__ import annotations

__all__ = ["ELEMENTWISE", "REFERENCES", "adam_step_reference", "fast_kernels"]

#: float for float16/float32, double for float64: the type fused kernels compute in.
ACC_PREAMBLE = r"""
template <typename T> struct cfw_acc { typedef float type; };
template <> struct cfw_acc<double> { typedef double type; };
"""

_A = "typedef typename cfw_acc<T>::type A; const A v = (A)x; "

#: name -> (in_params, out_params, operation) of each ElementwiseKernel (one place, so the
#: tests can compile-check the sources where NVRTC is installed).
ELEMENTWISE: dict[str, tuple[str, str, str]] = {
    "gelu": ("T x", "T y",
             _A + "y = (T)((A)0.5 * v * ((A)1 + erf(v * (A)0.70710678118654752440)));"),
    "gelu_tanh": ("T x", "T y", _A + "y = (T)((A)0.5 * v * ((A)1 + tanh((A)0.79788456080286535588"
                                     " * (v + (A)0.044715 * v * v * v))));"),
    "silu": ("T x", "T y", _A + "y = (T)(v / ((A)1 + exp(-v)));"),
    "sigmoid": ("T x", "T y", _A + "y = (T)((A)1 / ((A)1 + exp(-v)));"),
    "softmax_finish": ("T x, T m, S s", "T y", "typedef typename cfw_acc<T>::type A; "
                       "y = (T)(exp((A)x - (A)m) / (A)s);"),
    "log_softmax_finish": ("T x, T m, S s", "T y", "typedef typename cfw_acc<T>::type A; "
                           "y = (T)((A)x - (A)m - log((A)s));"),
    "adam_step": (
        "T g, float64 lr, float64 beta1, float64 beta2, float64 eps, float64 wd, "
        "float64 bc1, float64 bc2, bool decoupled, bool maximize", "T p, T m, T v",
        "typedef typename cfw_acc<T>::type A; "
        "A grad = maximize ? -(A)g : (A)g; A param = (A)p; "
        "if (wd != 0) { if (decoupled) { param *= (A)(1 - lr * wd); } "
        "else { grad += (A)wd * param; } } "
        "const A mm = (A)beta1 * (A)m + (A)(1 - beta1) * grad; "
        "const A vv = (A)beta2 * (A)v + (A)(1 - beta2) * grad * grad; "
        "m = (T)mm; v = (T)vv; "
        "p = (T)(param - (A)(lr / bc1) * mm / (sqrt(vv) / (A)sqrt(bc2) + (A)eps));"),
}

#: The ReductionKernel of softmax: sum(exp(x - m)) in the accumulation type.
SUMEXP = ("T x, T m", "S y", "exp((typename cfw_acc<T>::type)x - (typename cfw_acc<T>::type)m)",
          "a + b", "y = (S)a", "0")


# -- references, written against xp (numpy on the cpu, cupy on a GPU) -----------------------
def _gelu_ref(xp, x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + xp.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1 + _erf_for(xp)(x / 1.4142135623730951))


def _erf_for(xp):
    if xp.__name__ != "numpy":
        from cupyx.scipy.special import erf

        return erf
    try:
        from scipy.special import erf
    except ImportError:  # exact, slow: math.erf per element
        import math

        import numpy as np

        scalar = np.vectorize(math.erf, otypes=[np.float64])
        return lambda x: scalar(x).astype(x.dtype)
    return erf


def _softmax_ref(xp, x, dim):
    e = xp.exp(x - xp.max(x, axis=dim, keepdims=True))
    return e / xp.sum(e, axis=dim, keepdims=True)


def _log_softmax_ref(xp, x, dim):
    s = x - xp.max(x, axis=dim, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=dim, keepdims=True))


def adam_step_reference(xp, param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps,
                        weight_decay, decoupled, maximize, step):
    """One Adam (``decoupled=False``) or AdamW step, in place, as ``torch.optim.Adam``'s
    single-tensor loop (no amsgrad); returns ``param``."""
    g = -grad if maximize else grad
    if weight_decay:
        if decoupled:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
    param -= (lr / bc1) * exp_avg / (xp.sqrt(exp_avg_sq) / bc2 ** 0.5 + eps)
    return param


#: op name -> reference(xp, *arrays, **attrs) for the fused kernels above.
REFERENCES = {
    "gelu": _gelu_ref,
    "silu": lambda xp, x: x / (1 + xp.exp(-x)),
    "sigmoid": lambda xp, x: 1 / (1 + xp.exp(-x)),
    "softmax": _softmax_ref,
    "log_softmax": _log_softmax_ref,
}


# -- the table -------------------------------------------------------------------------------
def fast_kernels(cp) -> dict:
    """``{op name: kernel}`` for cupy: fused elementwise/softmax kernels, the array-module nn
    kernels of :mod:`corefw_cuda.xp_kernels`, and ``adam_step_`` (not an op yet: an optimizer
    can look it up in ``device.table``)."""
    import numpy as np

    from .backend import _make_add_at
    from .xp_kernels import kernels as xp_kernels

    ew = {name: cp.ElementwiseKernel(i, o, op, f"cfw_{name}", preamble=ACC_PREAMBLE)
          for name, (i, o, op) in ELEMENTWISE.items()}
    i, o, mapx, red, post, ident = SUMEXP
    sumexp = {acc: cp.ReductionKernel(i, o, mapx, red, post, ident, f"cfw_sumexp_{acc}",
                                      reduce_type=acc, preamble=ACC_PREAMBLE)
              for acc in ("float", "double")}
    floats = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))

    def unary(name, ref):
        kernel = ew[name]

        def run(x):
            return kernel(x) if x.dtype in floats else ref(cp, x)

        run.__name__ = name
        return run

    def gelu(x, approximate="none"):
        if x.dtype not in floats:
            return _gelu_ref(cp, x, approximate)
        return ew["gelu_tanh" if approximate == "tanh" else "gelu"](x)

    def _softmax(finish, ref):
        def run(x, dim):
            if x.dtype not in floats or x.size == 0:
                return ref(cp, x, dim)
            m = cp.max(x, axis=dim, keepdims=True)
            wide = x.dtype == floats[2]
            s = cp.empty(m.shape, dtype=np.float64 if wide else np.float32)
            sumexp["double" if wide else "float"](x, m, axis=dim, keepdims=True, out=s)
            return ew[finish](x, m, s)

        return run

    softmax = _softmax("softmax_finish", _softmax_ref)
    log_softmax = _softmax("log_softmax_finish", _log_softmax_ref)

    def adam_step_(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
                   decoupled=False, maximize=False, step):
        bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
        ew["adam_step"](grad, float(lr), float(beta1), float(beta2), float(eps),
                        float(weight_decay), float(bc1), float(bc2), bool(decoupled),
                        bool(maximize), param, exp_avg, exp_avg_sq)
        return param

    table = xp_kernels(cp, add_at=_make_add_at(cp), log_softmax=log_softmax)
    table.update({
        "gelu": gelu, "silu": unary("silu", REFERENCES["silu"]),
        "sigmoid": unary("sigmoid", REFERENCES["sigmoid"]),
        "softmax": softmax, "log_softmax": log_softmax, "adam_step_": adam_step_,
    })
    return table
