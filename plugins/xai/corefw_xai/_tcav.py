"""Concept-based explanations: TCAV (Kim et al. 2018), with Captum's names.

A *concept* is a set of examples (pictures of stripes, sentences in the past tense). Its
activations at a layer are separated from another concept's (often a random set) by a linear
classifier; the classifier's weight vector is the *concept activation vector* (CAV). The TCAV
score of a concept for a class is the fraction of the class's inputs whose target output
increases when the layer activation moves along the CAV (``sign_count``: the sign of the
directional derivative ``d = grad_h F . v``), and ``magnitude`` the mean of ``d`` over the
inputs (Captum's definition; it scales with the CAV's norm, so compare it only between
CAVs of one classifier). A score means something only when it
differs from the scores of random concepts: :func:`tcav_significance` runs a two-sided Welch
t-test of the concept's scores (against several random sets) against random-vs-random scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

import corefw
from corefw import Tensor

from ._core import Attribution, as_tuple
from ._layer import _args, capture, resolve_layer
from ._results import TCAVScores
from ._targets import TargetSet
from .errors import XaiError

__all__ = ["CAV", "TCAV", "Classifier", "Concept", "DefaultClassifier", "SignificanceResult",
           "tcav_significance", "welch_t_test"]


@dataclass
class Concept:
    """A concept: an integer ``id`` (unique), a ``name`` and its examples ``data_iter`` (a
    tensor whose first dim indexes examples, or an iterable of such batches)."""

    id: int
    name: str
    data_iter: object

    @property
    def identifier(self) -> str:
        return f"{self.name}-{self.id}"

    def batches(self) -> Iterable[Tensor]:
        if isinstance(self.data_iter, Tensor):
            return (self.data_iter,)
        return self.data_iter


@dataclass
class CAV:
    """The CAVs of one experimental set at one layer: ``stats["weights"]`` (n_concepts,
    n_features), one row per concept in the set's order; ``stats["classes"]`` the concept ids;
    ``stats["accs"]`` the classifier's accuracy on the held-out third of the examples."""

    concepts: list[Concept]
    layer: str
    stats: dict = field(default_factory=dict)


class Classifier:
    """Interface of a CAV classifier (Captum's): ``train_and_eval(x, y)`` fits on activations
    ``x`` (n, d) with concept-id labels ``y`` (n,) and returns ``{"accs": accuracy}``;
    ``weights()`` is (n_classes, d), one row per class of ``classes()`` (sorted ids)."""

    def train_and_eval(self, x: np.ndarray, y: np.ndarray, **kwargs) -> dict:
        raise NotImplementedError

    def weights(self) -> np.ndarray:
        raise NotImplementedError

    def classes(self) -> list[int]:
        raise NotImplementedError


class DefaultClassifier(Classifier):
    """L2-regularised logistic regression (multinomial for more than two concepts), trained in
    float64 on two thirds of the examples (a seeded shuffle) and scored on the rest.

    With two classes the weights are ``[-w, w]`` as in Captum: the CAV of the first concept
    points away from the second. Binary fits use Newton's method (exact optimum); multinomial
    ones gradient descent.
    """

    def __init__(self, alpha: float = 0.01, test_split_ratio: float = 0.33, seed: int = 0,
                 max_iter: int = 1000) -> None:
        self.alpha, self.test_split_ratio, self.seed = alpha, test_split_ratio, seed
        self.max_iter = max_iter
        self._w: np.ndarray | None = None
        self._classes: list[int] = []

    def train_and_eval(self, x: np.ndarray, y: np.ndarray, **kwargs) -> dict:
        x = np.asarray(x, np.float64)
        classes = sorted({int(v) for v in y})
        if len(classes) < 2:
            raise XaiError("TCAV: a CAV needs examples of at least two concepts")
        idx = np.random.default_rng(self.seed).permutation(len(y))
        n_test = int(round(len(y) * self.test_split_ratio))
        test, train = idx[:n_test], idx[n_test:]
        labels = np.searchsorted(classes, np.asarray(y, np.int64))
        xt = np.concatenate([x[train], np.ones((len(train), 1))], 1)  # bias column
        if len(classes) == 2:
            wb = self._newton(xt, labels[train].astype(np.float64))
            w = np.stack([-wb, wb])
        else:
            w = self._softmax_gd(xt, labels[train], len(classes))
        self._w, self._classes = w[:, :-1], classes
        if n_test:
            scores = np.concatenate([x[test], np.ones((n_test, 1))], 1) @ w.T
            acc = float(np.mean(np.argmax(scores, 1) == labels[test]))
        else:
            acc = float("nan")
        return {"accs": acc}

    def _newton(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        n, d = x.shape
        w = np.zeros(d)
        reg = self.alpha * np.eye(d)
        reg[-1, -1] = 0.0  # the bias is not regularised
        for _ in range(min(self.max_iter, 100)):
            p = 1 / (1 + np.exp(-np.clip(x @ w, -500, 500)))
            grad = x.T @ (p - y) / n + reg @ w
            hess = (x * (p * (1 - p))[:, None]).T @ x / n + reg + 1e-12 * np.eye(d)
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.max(np.abs(step)) < 1e-10:
                break
        return w

    def _softmax_gd(self, x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
        n, d = x.shape
        onehot = np.eye(k)[labels]
        w = np.zeros((k, d))
        lr = 1.0 / (0.5 * np.linalg.norm(x, 2) ** 2 / n + self.alpha)  # 1/Lipschitz
        for _ in range(self.max_iter):
            z = x @ w.T
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            grad = (p - onehot).T @ x / n + self.alpha * np.concatenate(
                [w[:, :-1], np.zeros((k, 1))], 1)
            w -= lr * grad
        return w

    def weights(self) -> np.ndarray:
        if self._w is None:
            raise XaiError("DefaultClassifier.weights: call train_and_eval first")
        return self._w

    def classes(self) -> list[int]:
        return list(self._classes)


class TCAV(Attribution):
    """Testing with concept activation vectors (Kim et al. 2018), Captum's ``TCAV``.

    ``layers`` are modules or names in ``model.named_modules()``. The directional derivatives
    use the gradient of the target with respect to the layer output (input with
    ``attribute_to_layer_input=True``); CAVs are cached per experimental set and layer in memory
    (``save_path`` is accepted for Captum's signature; nothing is written to disk).
    """

    name = "tcav"
    kind = "concept"
    result_type = TCAVScores

    def __init__(self, model, layers, model_id: str = "default_model_id",
                 classifier: Classifier | None = None, layer_attr_method=None,
                 attribute_to_layer_input: bool = False, save_path: str | None = None,
                 **classifier_kwargs) -> None:
        super().__init__(model)
        layers = list(layers) if isinstance(layers, (list, tuple)) else [layers]
        self.layer_names = [lay if isinstance(lay, str) else self._name_of(lay)
                            for lay in layers]
        self.layers = [resolve_layer(model, lay) for lay in layers]
        self.model_id = model_id
        self.classifier = classifier or DefaultClassifier(**classifier_kwargs)
        if layer_attr_method is not None:
            raise XaiError("TCAV: layer_attr_method is not supported; the layer gradient "
                           "(Captum's default) is used")
        self.attribute_to_layer_input = attribute_to_layer_input
        self.save_path = save_path
        self.cavs: dict[str, dict[str, CAV]] = {}
        self._acts: dict[tuple[int, str], np.ndarray] = {}

    def _name_of(self, layer) -> str:
        for n, m in self.model.named_modules():
            if m is layer:
                return n
        raise XaiError("TCAV: a layer is not a submodule of the model")

    # activations and CAVs ------------------------------------------------------------------
    def generate_activation(self, layer: str, concept: Concept) -> np.ndarray:
        """Activations (n_examples, n_features) of ``concept`` at ``layer`` (cached)."""
        key = (concept.id, layer)
        if key not in self._acts:
            module = self.layers[self.layer_names.index(layer)]
            rows = []
            with corefw.no_grad():
                for batch in concept.batches():
                    xs, _ = as_tuple(batch)
                    with capture(module, self.attribute_to_layer_input) as box:
                        self.forward(xs)
                    act = box["value"]
                    rows.append(act.detach().cpu().numpy().astype(np.float64)
                                .reshape(act.shape[0], -1))
            if not rows:
                raise XaiError(f"TCAV: concept {concept.identifier!r} has no examples")
            self._acts[key] = np.concatenate(rows, 0)
        return self._acts[key]

    def compute_cavs(self, experimental_sets: Sequence[Sequence[Concept]],
                     force_train: bool = False, processes: int | None = None
                     ) -> dict[str, dict[str, CAV]]:
        """Train (or take from the cache) one CAV per experimental set and layer."""
        out = {}
        for concepts in experimental_sets:
            key = concepts_key(concepts)
            ids = [c.id for c in concepts]
            if len(set(ids)) != len(ids):
                raise XaiError(f"TCAV: concept ids must be distinct within a set, got {ids}")
            per_layer = self.cavs.setdefault(key, {})
            for layer in self.layer_names:
                if layer in per_layer and not force_train:
                    continue
                acts = [self.generate_activation(layer, c) for c in concepts]
                x = np.concatenate(acts, 0)
                y = np.concatenate([np.full(len(a), c.id) for a, c in zip(acts, concepts)])
                stats = dict(self.classifier.train_and_eval(x, y))
                weights, classes = np.asarray(self.classifier.weights()), \
                    list(self.classifier.classes())
                order = [classes.index(i) for i in ids]  # one row per concept, set's order
                stats.update(weights=weights[order], classes=ids)
                per_layer[layer] = CAV(list(concepts), layer, stats)
            out[key] = per_layer
        return out

    # scores --------------------------------------------------------------------------------
    def interpret(self, inputs, experimental_sets: Sequence[Sequence[Concept]], target=None,
                  additional_forward_args=None, processes: int | None = None, **kwargs
                  ) -> TCAVScores:
        """TCAV scores: ``{set key: {layer: {"sign_count": (n_concepts,), "magnitude":
        (n_concepts,)}}}``; the set key joins the concept ids with ``-`` (Captum's). A
        :class:`~corefw_xai._results.TCAVScores`: that ``dict`` plus :meth:`score` and
        :meth:`summary`."""
        self.start()
        self.compute_cavs(experimental_sets)
        xs, _ = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch)
        args = _args(additional_forward_args)
        rows = np.arange(batch)
        scores: dict[str, dict[str, dict[str, Tensor]]] = {}
        for layer, module in zip(self.layer_names, self.layers):
            grads = self._layer_grads(module, xs, args, ts, rows)  # (batch, n_features)
            for concepts in experimental_sets:
                key = concepts_key(concepts)
                cav = self.cavs[key][layer].stats["weights"]  # (n_concepts, n_features)
                d = grads @ cav.T  # directional derivatives (batch, n_concepts)
                sign = np.mean(d > 0, 0)
                mag = np.mean(d, 0)
                scores.setdefault(key, {})[layer] = {
                    "sign_count": corefw.tensor(sign, dtype=corefw.float64),
                    "magnitude": corefw.tensor(mag, dtype=corefw.float64)}
        names = {concepts_key(cs): [c.name for c in cs] for cs in experimental_sets}
        return TCAVScores(scores, names, self.layer_names, target)

    def _layer_grads(self, module, xs, args, ts, rows) -> np.ndarray:
        leaves = tuple(x.detach().requires_grad_() if x.dtype.is_floating_point else x
                       for x in xs)
        with corefw.enable_grad(), capture(module, self.attribute_to_layer_input) as box:
            out = self.forward(leaves, args)
            act = box["value"]
            if not isinstance(act, Tensor) or not act.requires_grad:
                raise XaiError("TCAV: the layer's activation does not depend on the inputs "
                               "through differentiable ops; choose a later layer")
            value = ts.select(0, out, rows)
            (g,) = corefw.autograd.grad(value.sum(), act, allow_unused=True,
                                        materialize_grads=True)
        return g.detach().cpu().numpy().astype(np.float64).reshape(g.shape[0], -1)

    def attribute(self, inputs, experimental_sets, target=None, **kwargs) -> TCAVScores:
        """Same as :meth:`interpret` (so ``explain(..., method="tcav")`` works)."""
        return self.interpret(inputs, experimental_sets, target=target, **kwargs)


def concepts_key(concepts: Sequence[Concept]) -> str:
    """Captum's key of an experimental set: the concept ids joined with ``-``."""
    return "-".join(str(c.id) for c in concepts)


# significance ----------------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta (Numerical Recipes 6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(lbeta + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Welch t-test of two samples: ``(t, p)`` (scipy's ``ttest_ind(equal_var=
    False)``); ``p = 1`` when both samples are constant and equal, 0 when constant and not."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"welch_t_test: each sample needs at least 2 values, got {len(a)} "
                         f"and {len(b)}; use more random concepts")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = float(a.mean() - b.mean())
    if va + vb == 0:
        return (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return t, _betainc(df / 2, 0.5, df / (df + t * t))


@dataclass
class SignificanceResult:
    """Concept scores against several random sets, random-vs-random scores, the t-test."""

    concept: str
    layer: str
    score_type: str
    concept_scores: np.ndarray
    random_scores: np.ndarray
    t: float
    p_value: float
    alpha: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def summary(self) -> str:
        verdict = "significant" if self.significant else "NOT significant"
        return (f"TCAV {self.score_type} of {self.concept!r} at {self.layer!r}: "
                f"{self.concept_scores.mean():.3f} +- {self.concept_scores.std(ddof=1):.3f} vs "
                f"random {self.random_scores.mean():.3f} +- "
                f"{self.random_scores.std(ddof=1):.3f}; t = {self.t:.3g}, p = "
                f"{self.p_value:.3g} ({verdict} at alpha = {self.alpha})")


def tcav_significance(tcav: TCAV, inputs, concept: Concept, random_concepts: Sequence[Concept],
                      target=None, layer: str | None = None, score_type: str = "sign_count",
                      alpha: float = 0.05, **kwargs) -> SignificanceResult:
    """Kim et al.'s test: the concept's TCAV scores against each random concept ``r_i``,
    compared by a two-sided Welch t-test with random-vs-random scores, ``r_i`` against
    ``r_(i+1 mod n)``. (Captum's tutorial pairs every random set with the same ``r_0``; the
    random-vs-random scores then share ``r_0``'s sampling noise and can all agree, which makes
    a random "concept" look significant. Rotating the pairs avoids that.) Needs at least
    three random concepts."""
    if len(random_concepts) < 3:
        raise ValueError(f"tcav_significance: needs at least 3 random concepts, got "
                         f"{len(random_concepts)}")
    if score_type not in ("sign_count", "magnitude"):
        raise ValueError(f"tcav_significance: score_type must be 'sign_count' or 'magnitude', "
                         f"got {score_type!r}")
    layer = layer or tcav.layer_names[0]
    n = len(random_concepts)
    sets = [[concept, r] for r in random_concepts] + \
        [[random_concepts[i], random_concepts[(i + 1) % n]] for i in range(n)]
    res = tcav.interpret(inputs, sets, target=target, **kwargs)
    cs = np.array([float(res[concepts_key(s)][layer][score_type][0])
                   for s in sets[:len(random_concepts)]])
    rs = np.array([float(res[concepts_key(s)][layer][score_type][0])
                   for s in sets[len(random_concepts):]])
    t, p = welch_t_test(cs, rs)
    return SignificanceResult(concept.identifier, layer, score_type, cs, rs, t, p, alpha)
