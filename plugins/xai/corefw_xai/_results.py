"""Result types of the registered explainers whose answers are not per-feature attributions.

Every explainer class in the registry says what it returns: ``kind`` ("feature", "concept",
"data" or "text") and ``result_type``:

- "feature" (Saliency ... NeuronFeatureAblation): an :class:`~corefw_xai.Explanation`,
  attributions shaped like the inputs (or the layer).
- "concept" (``tcav``): :class:`TCAVScores`, Captum's nested mapping ``{set key: {layer:
  {"sign_count", "magnitude"}}}`` with lookup and a printable table.
- "data" (``tracin_cp``): :class:`InfluenceScores`, the (n_test, n_train) influence matrix with
  the strongest proponents and opponents; ``influence(..., k=)`` gives Captum's
  :class:`KMostInfluentialResults`.
- "text" (``llm_attribution``, ``llm_gradient_attribution``): ``LLMAttributionResult``, token
  attributions with the input and generated tokens and an HTML rendering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from corefw import Tensor

from .errors import XaiError

__all__ = ["InfluenceScores", "KMostInfluentialResults", "TCAVScores"]


class TCAVScores(dict):
    """TCAV scores: ``{set key: {layer: {"sign_count": (n_concepts,), "magnitude":
    (n_concepts,)}}}`` as Captum's ``TCAV.interpret`` returns them (a ``dict``), plus the
    concept names of each set and the target, :meth:`score` and :meth:`summary`.

    ``sign_count`` is the fraction of inputs whose directional derivative along the concept's
    CAV is positive (Kim et al.'s TCAV_Q), ``magnitude`` its mean. A set key joins the concept
    ids with ``-``.
    """

    kind = "concept"

    def __init__(self, scores: dict, concepts: dict[str, list[str]], layers: Sequence[str],
                 target=None) -> None:
        super().__init__(scores)
        #: set key -> the names (identifiers) of its concepts, in the set's order
        self.concepts = dict(concepts)
        self.layers = list(layers)
        self.target = target

    def score(self, key: str, layer: str | None = None,
              score_type: str = "sign_count") -> np.ndarray:
        """The scores (n_concepts,) of experimental set ``key`` at ``layer`` (default: the
        first layer)."""
        if key not in self:
            raise KeyError(f"TCAVScores: no experimental set {key!r}; sets: {', '.join(self)}")
        if score_type not in ("sign_count", "magnitude"):
            raise XaiError(f"TCAVScores.score: score_type must be 'sign_count' or "
                             f"'magnitude', got {score_type!r}")
        return self[key][layer or self.layers[0]][score_type].numpy()

    def rows(self) -> list[tuple[str, str, str, float, float]]:
        """``(set key, layer, concept, sign_count, magnitude)`` per concept."""
        out = []
        for key, per_layer in self.items():
            for layer, s in per_layer.items():
                for name, sc, mag in zip(self.concepts[key], s["sign_count"].numpy(),
                                         s["magnitude"].numpy()):
                    out.append((key, layer, name, float(sc), float(mag)))
        return out

    def summary(self) -> str:
        """One line per set, layer and concept."""
        head = f"TCAV scores (target {self.target})" if self.target is not None else \
            "TCAV scores"
        lines = [head, f"{'set':<12}{'layer':<14}{'concept':<16}{'sign_count':>11}"
                       f"{'magnitude':>11}"]
        lines += [f"{k:<12}{lay:<14}{c:<16}{s:>11.3f}{m:>11.4g}" for k, lay, c, s, m in
                  self.rows()]
        return "\n".join(lines)


class KMostInfluentialResults(NamedTuple):
    """Captum's result of ``TracInCP.influence(inputs, k=...)``: ``indices`` and
    ``influence_scores`` (n_test, k) of the ``k`` strongest proponents (or opponents)."""

    indices: Tensor
    influence_scores: Tensor


@dataclass
class InfluenceScores:
    """TracInCP's answer for test examples: ``scores`` (n_test, n_train), the influence of
    each training example on each test example (positive: a proponent, its training steps
    lowered the test loss; negative: an opponent)."""

    scores: Tensor
    kind = "data"

    def top(self, k: int, proponents: bool = True) -> KMostInfluentialResults:
        """The ``k`` strongest proponents (``proponents=False``: opponents) per test example,
        strongest first (ties: the lower training index first)."""
        s = self.scores.numpy()
        if not 1 <= k <= s.shape[1]:
            raise XaiError(f"InfluenceScores.top: k must be in [1, {s.shape[1]}] (the "
                             f"number of training examples), got {k}")
        order = np.argsort(-s if proponents else s, axis=1, kind="stable")[:, :k]
        import corefw

        return KMostInfluentialResults(corefw.tensor(order),
                                       corefw.tensor(np.take_along_axis(s, order, 1)))

    def proponents(self, k: int) -> KMostInfluentialResults:
        return self.top(k, True)

    def opponents(self, k: int) -> KMostInfluentialResults:
        return self.top(k, False)

    def summary(self, k: int = 3) -> str:
        """Per test example, its ``k`` strongest proponents and opponents with their scores."""
        k = min(k, self.scores.shape[1])
        pro, opp = self.top(k), self.top(k, False)
        lines = [f"TracInCP influence of {self.scores.shape[1]} training examples on "
                 f"{self.scores.shape[0]} test example(s)"]
        def fmt(r, i):
            return ", ".join(f"#{int(j)} ({v:+.3g})" for j, v in
                             zip(r.indices[i].tolist(), r.influence_scores[i].tolist()))

        for i in range(self.scores.shape[0]):
            lines.append(f"test {i}: proponents {fmt(pro, i)}; opponents {fmt(opp, i)}")
        return "\n".join(lines)
