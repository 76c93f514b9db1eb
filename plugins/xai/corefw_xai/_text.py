"""Attribution over the tokens of a text, for a generated continuation: Captum's interpretable
inputs (``TextTokenInput``, ``TextTemplateInput``), ``LLMAttribution`` (perturbation methods
over tokens or template segments) and ``LLMGradientAttribution`` (gradient layer methods, e.g.
``LayerIntegratedGradients`` on the token embedding).

The explained quantity is the log-probability of the target continuation: for target tokens
``t_1..t_m`` after input ``x``, ``log p(t_i | x, t_<i)`` each (``token_attr``, one row per
target token) and their sum (``seq_attr``). Each term is computed as Captum does, from the
model's last-position logits on ``x + t_<i``, so the model need not be causal. The model takes
token ids (batch, length) and returns logits (batch, length, vocab), or an object with
``.logits``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

import corefw
from corefw import Tensor

from .errors import XaiError

__all__ = ["CharTokenizer", "LLMAttribution", "LLMAttributionResult", "LLMGradientAttribution",
           "TextTemplateInput", "TextTokenInput"]


class CharTokenizer:
    """A character tokenizer (one id per character of ``vocab``), with the methods of a
    Hugging Face tokenizer that the text explainers use."""

    def __init__(self, vocab: str | Sequence[str]) -> None:
        self.vocab = list(vocab)
        self.index = {c: i for i, c in enumerate(self.vocab)}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        missing = sorted({c for c in text if c not in self.index})
        if missing:
            raise XaiError(f"CharTokenizer.encode: characters {missing} are not in the "
                           f"vocabulary")
        return [self.index[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self.vocab[int(i)] for i in ids]


def _tokens(tokenizer, ids: Sequence[int]) -> list[str]:
    conv = getattr(tokenizer, "convert_ids_to_tokens", None)
    return list(conv(list(ids))) if conv else [tokenizer.decode([i]) for i in ids]


def _encode(tokenizer, text: str) -> list[int]:
    try:
        return list(tokenizer.encode(text, add_special_tokens=False))
    except TypeError:
        return list(tokenizer.encode(text))


class TextTokenInput:
    """A text whose interpretable features are its tokens. An ablated token is replaced by
    ``baselines`` (a token id, or a string of one token); ``skip_tokens`` (ids or strings)
    are kept as they are and get no attribution."""

    def __init__(self, text: str, tokenizer, baselines: int | str = 0,
                 skip_tokens: Sequence[int | str] | None = None) -> None:
        self.text, self.tokenizer = text, tokenizer
        self.ids = _encode(tokenizer, text)
        if not self.ids:
            raise XaiError("TextTokenInput: the text has no tokens")
        if isinstance(baselines, str):
            b = _encode(tokenizer, baselines)
            if len(b) != 1:
                raise XaiError(f"TextTokenInput: baseline {baselines!r} is {len(b)} tokens; "
                               f"give one token")
            baselines = b[0]
        self.baseline_id = int(baselines)
        skip = {(_encode(tokenizer, s)[0] if isinstance(s, str) else int(s))
                for s in (skip_tokens or ())}
        self.positions = [i for i, t in enumerate(self.ids) if t not in skip]
        self.values = [_tokens(tokenizer, [self.ids[i]])[0] for i in self.positions]
        self.n_itp_features = len(self.positions)

    def to_tensor(self) -> Tensor:
        """The interpretable features, all present: ones of shape (1, n_features)."""
        return corefw.ones(1, self.n_itp_features, dtype=corefw.float64)

    def to_model_input(self, perturbed: Tensor | None = None) -> Tensor:
        """Token ids (1, n_tokens), the tokens whose feature is 0 replaced by the baseline."""
        ids = np.array(self.ids, np.int64)
        if perturbed is not None:
            keep = perturbed.detach().cpu().numpy().reshape(-1) != 0
            ids[np.array(self.positions)[~keep]] = self.baseline_id
        return corefw.tensor(ids[None, :])

    def baseline_ids(self) -> Tensor:
        """Token ids with every feature ablated."""
        return self.to_model_input(corefw.zeros(1, self.n_itp_features))


class TextTemplateInput:
    """A text built from a template (``str.format`` fields ``{}`` or ``{name}``) and values;
    each value (or each group of values sharing a ``mask`` id) is a feature, replaced when
    ablated by its baseline (default the empty string)."""

    def __init__(self, template: str | Callable, values: Sequence[str] | dict,
                 baselines: Sequence[str] | dict | str | None = None,
                 mask: Sequence[int] | dict | None = None) -> None:
        self.template = template
        self.keys = list(values) if isinstance(values, dict) else list(range(len(values)))
        self.items = [values[k] for k in self.keys]
        if baselines is None or isinstance(baselines, str):
            self.base = [baselines or ""] * len(self.items)
        else:
            self.base = [baselines[k] for k in self.keys]
        groups = [mask[k] for k in self.keys] if mask is not None else list(
            range(len(self.items)))
        uniq = sorted(set(groups))
        self.groups = [uniq.index(g) for g in groups]
        self.n_itp_features = len(uniq)
        self.values = [" ".join(str(v) for v, g in zip(self.items, self.groups) if g == k)
                       for k in range(self.n_itp_features)]

    def to_tensor(self) -> Tensor:
        return corefw.ones(1, self.n_itp_features, dtype=corefw.float64)

    def to_model_input(self, perturbed: Tensor | None = None) -> str:
        """The text with the values of the features that are 0 replaced by their baselines."""
        keep = np.ones(self.n_itp_features, bool) if perturbed is None else \
            perturbed.detach().cpu().numpy().reshape(-1) != 0
        vals = [v if keep[g] else b for v, b, g in zip(self.items, self.base, self.groups)]
        if callable(self.template):
            return self.template(*vals)
        if isinstance(self.keys[0], str):
            return self.template.format(**dict(zip(self.keys, vals)))
        return self.template.format(*vals)


@dataclass
class LLMAttributionResult:
    """``seq_attr`` (n_features,): attribution of the whole continuation's log-probability;
    ``token_attr`` (n_target_tokens, n_features): per generated token; the feature names
    ``input_tokens`` and the target tokens ``output_tokens``."""

    seq_attr: Tensor
    token_attr: Tensor | None
    input_tokens: list[str]
    output_tokens: list[str]
    delta: Tensor | None = None

    @property
    def seq_attr_dict(self) -> dict[str, float]:
        return {t: float(v) for t, v in zip(self.input_tokens, self.seq_attr.numpy())}

    def html(self, title: str | None = None) -> str:
        """The input tokens highlighted by ``seq_attr``, and one line per target token."""
        import html as _html

        from .viz import text_html

        rows = [f"<h3>{_html.escape(title or 'attribution of the continuation')}</h3>",
                f"<p>continuation: <b>{_html.escape(''.join(self.output_tokens))}</b></p>",
                text_html(self.input_tokens, self.seq_attr)]
        if self.token_attr is not None:
            a = self.token_attr.numpy()
            top = float(np.max(np.abs(a))) or 1.0
            for tok, row in zip(self.output_tokens, a):
                rows.append(f"<div>&rarr; {_html.escape(repr(tok))}: "
                            f"{text_html(self.input_tokens, row, scale=top)}</div>")
        return "\n".join(rows)

    def save_html(self, path, title: str | None = None) -> str:
        """Write a self-contained page (colour legend, nothing loaded from the network) with
        :meth:`html`; returns the path."""
        import html as _html
        import os

        from .viz import _CSP, _STYLE, _legend

        head = _html.escape(title or "attribution of the continuation")
        page = "\n".join(["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", _CSP,
                          f"<title>{head}</title>", _STYLE, "</head><body>",
                          self.html(title), _legend(True, None), "</body></html>"])
        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(page)
        return path


def _logits(out) -> Tensor:
    out = getattr(out, "logits", out)
    if not isinstance(out, Tensor) or out.ndim != 3:
        raise XaiError(f"the language model must return logits of shape (batch, length, "
                       f"vocab) (or an object with .logits), got "
                       f"{getattr(out, 'shape', type(out).__name__)}")
    return out


def _target_ids(model, tokenizer, ids: Tensor, target, gen_args: dict | None) -> list[int]:
    if isinstance(target, str):
        return _encode(tokenizer, target)
    if isinstance(target, Tensor):
        return [int(v) for v in target.reshape(-1).tolist()]
    if target is not None:
        return [int(v) for v in target]
    args = dict(gen_args or {})
    n = int(args.pop("max_new_tokens", 25))
    seq = ids
    with corefw.no_grad():  # greedy continuation, as Captum's default generation
        for _ in range(n):
            nxt = _logits(model(seq))[:, -1].argmax(-1).reshape(1, 1)
            seq = corefw.cat([seq, nxt.to(seq.dtype)], 1)
    return [int(v) for v in seq[0, ids.shape[1]:].tolist()]


def _log_probs(model, ids: Tensor, target_ids: list[int], attr_target: str) -> Tensor:
    """(rows, 1 + m): the total and each target token's log-probability (or probability)."""
    rows = ids.shape[0]
    cols = []
    tgt = corefw.tensor(np.array(target_ids, np.int64), device=ids.device)
    for i, t in enumerate(target_ids):
        seq = ids if i == 0 else corefw.cat([ids, tgt[:i].reshape(1, i).expand(rows, i)], 1)
        logp = _logits(model(seq))[:, -1].log_softmax(-1)
        cols.append(logp[:, t])
    per = corefw.stack(cols, 1)
    total = per.sum(1, keepdim=True)
    out = corefw.cat([total, per], 1)
    return out.exp() if attr_target == "prob" else out


class LLMAttribution:
    """Perturbation attribution (FeatureAblation, ShapleyValues, ShapleyValueSampling,
    KernelShap, Lime) over the features of an interpretable text input, for the
    log-probability of a target continuation. (FeaturePermutation permutes features across
    the batch, and a text is one example, so it does not apply.)

    ``attr_method`` is built on the language model (``FeatureAblation(model)``); its model is
    replaced, for the call, by the function from feature presence to log-probabilities. The
    language model itself may be given instead (FeatureAblation is then used), which is how
    the registry builds it: ``explain(model, TextTokenInput(...), method="llm_attribution",
    init={"tokenizer": tok}, target="...")``.
    """

    name = "llm_attribution"
    kind = "text"
    result_type = LLMAttributionResult

    def __init__(self, attr_method, tokenizer, attr_target: str = "log_prob") -> None:
        if attr_target not in ("log_prob", "prob"):
            raise XaiError(f"LLMAttribution: attr_target must be 'log_prob' or 'prob', got "
                           f"{attr_target!r}")
        if not hasattr(attr_method, "attribute"):  # the language model itself
            from ._perturb import FeatureAblation

            attr_method = FeatureAblation(attr_method)
        self.attr_method, self.tokenizer, self.attr_target = attr_method, tokenizer, attr_target
        self.model = attr_method.model

    def attribute(self, inp: TextTokenInput | TextTemplateInput, target=None,
                  skip_tokens=None, num_trials: int = 1, gen_args: dict | None = None,
                  use_cached_outputs: bool = True, **kwargs) -> LLMAttributionResult:
        """Attributions of each feature of ``inp`` to the target (a string, token ids, or None
        to generate ``gen_args["max_new_tokens"]`` tokens greedily)."""
        ids = self._ids(inp, None)
        target_ids = _target_ids(self.model, self.tokenizer, ids, target, gen_args)
        if not target_ids:
            raise XaiError("LLMAttribution: the target continuation has no tokens")

        def forward(features: Tensor) -> Tensor:
            rows = [_log_probs(self.model, self._ids(inp, features[r:r + 1]), target_ids,
                               self.attr_target) for r in range(features.shape[0])]
            return corefw.cat(rows, 0)

        method = copy.copy(self.attr_method)
        method.model = forward
        targets = list(range(1 + len(target_ids)))
        trials = []
        for _ in range(max(1, num_trials)):
            e = method.attribute(inp.to_tensor(), baselines=0.0, targets=targets, **kwargs)
            trials.append(e.attributions.detach().cpu().numpy()[:, 0])
        a = np.mean(trials, 0)  # (1 + m, n_features)
        return LLMAttributionResult(corefw.tensor(a[0]), corefw.tensor(a[1:]), inp.values,
                                    _tokens(self.tokenizer, target_ids))

    def _ids(self, inp, features) -> Tensor:
        x = inp.to_model_input(features)
        if isinstance(x, str):
            x = corefw.tensor(np.array([_encode(self.tokenizer, x)], np.int64))
        return x


class LLMGradientAttribution:
    """A gradient method over token ids, e.g. ``LayerIntegratedGradients(model,
    model.tokens)`` on the embedding, for each target token's log-probability. Per input token
    the attributions are summed over the embedding dimension. The baseline is the input with
    every feature replaced by ``inp``'s baseline token. Given the language model instead of a
    method (as the registry does), it uses ``LayerIntegratedGradients`` on the model's first
    ``nn.Embedding``."""

    name = "llm_gradient_attribution"
    kind = "text"
    result_type = LLMAttributionResult

    def __init__(self, attr_method, tokenizer) -> None:
        if not hasattr(attr_method, "attribute"):  # the language model itself
            attr_method = _embedding_ig(attr_method)
        self.attr_method, self.tokenizer = attr_method, tokenizer
        self.model = attr_method.model

    def attribute(self, inp: TextTokenInput, target=None, skip_tokens=None,
                  gen_args: dict | None = None, **kwargs) -> LLMAttributionResult:
        if not isinstance(inp, TextTokenInput):
            raise XaiError("LLMGradientAttribution: needs a TextTokenInput (template values "
                           "change the token count, so gradients cannot be aligned)")
        ids = inp.to_model_input()
        target_ids = _target_ids(self.model, self.tokenizer, ids, target, gen_args)
        n = ids.shape[1]
        rows, deltas = [], []
        method = copy.copy(self.attr_method)
        for i, t in enumerate(target_ids):
            prefix = target_ids[:i]

            def forward(x, prefix=prefix, t=t):
                if prefix:
                    p = corefw.tensor(np.array([prefix] * x.shape[0], np.int64))
                    x = corefw.cat([x, p.to(x.device)], 1)
                return _logits(self.model(x))[:, -1].log_softmax(-1)[:, t]

            method.model = forward
            opts = dict(kwargs)
            opts.setdefault("baselines", inp.baseline_ids())
            e = method.attribute(ids, **opts)
            a = e.attributions.detach().cpu().numpy()[0]
            a = a.reshape(a.shape[0], -1).sum(1) if a.ndim > 1 else a
            rows.append(a[:n][inp.positions])
            if e.delta is not None:
                deltas.append(float(e.delta.detach().cpu().numpy().reshape(-1)[0]))
        token_attr = np.stack(rows)
        return LLMAttributionResult(corefw.tensor(token_attr.sum(0)), corefw.tensor(token_attr),
                                    inp.values, _tokens(self.tokenizer, target_ids),
                                    corefw.tensor(np.array(deltas)) if deltas else None)


def _embedding_ig(model):
    """``LayerIntegratedGradients`` on the first ``nn.Embedding`` of ``model``."""
    from ._layer import LayerIntegratedGradients

    modules = model.modules() if hasattr(model, "modules") else []
    emb = next((m for m in modules if isinstance(m, corefw.nn.Embedding)), None)
    if emb is None:
        raise XaiError(f"LLMGradientAttribution: {type(model).__name__} has no nn.Embedding "
                       f"layer; pass a method, e.g. LayerIntegratedGradients(model, "
                       f"model.<embedding layer>)")
    return LayerIntegratedGradients(model, emb)
