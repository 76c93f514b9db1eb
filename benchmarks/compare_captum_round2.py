"""corefw-xai's TCAV, LLMAttribution / LLMGradientAttribution and TracInCP against Captum on
identical float64 models and data (weights copied into PyTorch twins).

    pip install captum torch   # only for this script, never for the tests
    python benchmarks/compare_captum_round2.py

Prints, per method, the largest absolute difference to Captum's result. TCAV is compared twice:
with the same CAVs fed to both (the scores must agree exactly), and with each library's own
default classifier (the CAVs differ: Captum trains an SGD classifier, corefw solves the
regularised logistic regression exactly), as the cosine of the CAVs and the score difference.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

import corefw
from corefw import nn

try:
    import torch
    from captum import attr as cattr
    from captum import concept as cconcept
    from captum import influence as cinfl
except ImportError as exc:  # pragma: no cover - needs torch and captum
    sys.exit(f"needs torch and captum ({exc}); pip install captum torch")

import corefw_xai as X
from corefw_xai import _tcav, _text

torch.set_default_dtype(torch.float64)
ROWS: list[tuple[str, str, float]] = []


def report(name: str, what: str, value: float) -> None:
    ROWS.append((name, what, value))


def copy_linear(t: torch.nn.Linear, c: nn.Linear) -> None:
    with torch.no_grad():
        t.weight.copy_(torch.tensor(c.weight.detach().numpy()))
        t.bias.copy_(torch.tensor(c.bias.detach().numpy()))


# -- TCAV --------------------------------------------------------------------------------------
def tcav() -> None:
    rng = np.random.default_rng(0)
    cmodel = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3), nn.Tanh(),
                           nn.Linear(3, 2)).double()
    tmodel = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3),
                                 torch.nn.Tanh(), torch.nn.Linear(3, 2))
    for i in (0, 2, 4):
        copy_linear(tmodel[i], cmodel[i])
    shift = np.array([1.0, -1.0, 0.5, 0, 0, 0])
    data = {0: rng.normal(size=(40, 6)) * 0.5 + 2 * shift, 1: rng.normal(size=(40, 6)) * 0.5,
            2: rng.normal(size=(40, 6)) * 0.5 - shift}
    x = rng.normal(size=(30, 6))
    names = {0: "stripes", 1: "random", 2: "dots"}
    sets = [[0, 1], [2, 1], [0, 2, 1]]
    cc = {i: _tcav.Concept(i, names[i], corefw.tensor(d)) for i, d in data.items()}
    ours = X.TCAV(cmodel, ["1", "3"])
    res = ours.interpret(corefw.tensor(x), [[cc[i] for i in s] for s in sets], target=0)

    class Fixed(cconcept._utils.classifier.Classifier):
        """Captum classifier that returns corefw's CAVs for the set being trained."""

        def __init__(self):
            self.w, self.c = None, None

        def train_and_eval(self, dataloader, **kw):
            xs, ys = zip(*dataloader)
            ys = torch.cat(ys).numpy()
            key = "-".join(str(i) for i in dict.fromkeys(ys.tolist()))
            width = torch.cat(xs).shape[1]
            layer = "1" if width == 5 else "3"
            cav = ours.cavs[key][layer].stats
            order = np.argsort(cav["classes"])
            self.w = torch.tensor(cav["weights"][order]).float()  # Captum scores in float32
            self.c = sorted(cav["classes"])
            return {"accs": torch.tensor(1.0)}

        def weights(self):
            return self.w

        def classes(self):
            return self.c

    def captum_concepts():
        return {i: cconcept.Concept(i, names[i], [torch.tensor(d)]) for i, d in data.items()}

    torch.set_default_dtype(torch.float32)  # Captum builds its CAV tensors in the default
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tc = captum_concepts()
            theirs = cconcept.TCAV(tmodel, ["1", "3"], classifier=Fixed(), save_path=tmp)
            ref = theirs.interpret(torch.tensor(x), [[tc[i] for i in s] for s in sets],
                                   target=0)
    finally:
        torch.set_default_dtype(torch.float64)
    for score in ("sign_count", "magnitude"):
        diff = max(float(np.max(np.abs(res[k][lay][score].numpy() - ref[k][lay][score].numpy())))
                   for k in res for lay in res[k])
        report("TCAV", f"{score}, same CAVs (3 sets x 2 layers)", diff)
    import copy

    torch.set_default_dtype(torch.float32)  # Captum's default classifier trains in float32
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tc = {i: cconcept.Concept(i, names[i], [torch.tensor(d, dtype=torch.float32)])
                  for i, d in data.items()}
            default = cconcept.TCAV(copy.deepcopy(tmodel).float(), ["1", "3"], save_path=tmp)
            ref = default.interpret(torch.tensor(x, dtype=torch.float32),
                                    [[tc[i] for i in s[:2]] for s in sets[:2]], target=0)
            cos = []
            for s in sets[:2]:
                key = "-".join(map(str, s))
                for lay in ("1", "3"):
                    w_c = ours.cavs[key][lay].stats["weights"][0]
                    st = default.cavs[key][lay].stats  # rows in sorted class order
                    row = list(st["classes"]).index(s[0])
                    w_t = st["weights"][row].double().numpy()
                    cos.append(w_c @ w_t / np.linalg.norm(w_c) / np.linalg.norm(w_t))
            sdiff = max(float(np.max(np.abs(res[k][lay]["sign_count"].numpy()
                                            - ref[k][lay]["sign_count"].numpy())))
                        for k in ref for lay in ref[k])
    finally:
        torch.set_default_dtype(torch.float64)
    report("TCAV", "own classifiers: min cosine of CAVs", float(min(cos)))
    report("TCAV", "own classifiers: max |sign_count diff|", sdiff)


# -- text --------------------------------------------------------------------------------------
VOCAB = "_abcdefgh "


class CBag(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(len(VOCAB), 6)
        self.head = nn.Linear(6, len(VOCAB))

    def forward(self, ids):
        return self.head(self.emb(ids).sum(1)).unsqueeze(1)


class TBag(torch.nn.Module):
    """The same model with a Hugging Face-like call (input_ids=..., returns .logits)."""

    def __init__(self, c: CBag):
        super().__init__()
        self.emb = torch.nn.Embedding(len(VOCAB), 6)
        self.head = torch.nn.Linear(6, len(VOCAB))
        with torch.no_grad():
            self.emb.weight.copy_(torch.tensor(c.emb.weight.detach().numpy()))
        copy_linear(self.head, c.head)

    def forward(self, input_ids=None, attention_mask=None, **kw):
        class Out:
            pass

        o = Out()
        o.logits = self.head(self.emb(input_ids).sum(1)).unsqueeze(1)
        return o


class TTok:
    """A Hugging Face-like character tokenizer for Captum."""

    def __init__(self):
        self.c = _text.CharTokenizer(VOCAB)

    def encode(self, text, add_special_tokens=False, return_tensors=None):
        ids = self.c.encode(text)
        return torch.tensor([ids]) if return_tensors == "pt" else ids

    def decode(self, ids, **kw):
        return self.c.decode(ids)

    def __call__(self, text, return_offsets_mapping=False, add_special_tokens=False, **kw):
        ids = self.c.encode(text)
        return {"input_ids": ids, "offset_mapping": [(i, i + 1) for i in range(len(ids))]}

    def convert_ids_to_tokens(self, ids):
        return self.c.convert_ids_to_tokens([ids] if isinstance(ids, int) else ids)

    def convert_tokens_to_ids(self, toks):
        return [self.c.index[t] for t in toks] if isinstance(toks, list) else self.c.index[toks]


def text() -> None:
    corefw.manual_seed(0)
    cm = CBag().double()
    tm = TBag(cm)
    tok, ttok = _text.CharTokenizer(VOCAB), TTok()
    prompt, target = "abcdefg", "hab"
    for cls_c, cls_t, name in [(X.FeatureAblation, cattr.FeatureAblation, "FeatureAblation"),
                               (X.ShapleyValues, cattr.ShapleyValues, "ShapleyValues")]:
        ours = X.LLMAttribution(cls_c(cm), tok).attribute(_text.TextTokenInput(prompt, tok),
                                                          target=target)
        theirs = cattr.LLMAttribution(cls_t(tm), ttok).attribute(
            cattr.TextTokenInput(prompt, ttok), target=target, use_cached_outputs=False)
        d = max(np.max(np.abs(ours.seq_attr.numpy() - theirs.seq_attr.numpy())),
                np.max(np.abs(ours.token_attr.numpy() - theirs.token_attr.numpy())))
        report(f"LLMAttribution({name})", "TextTokenInput, 7 tokens, 3 target tokens", d)
    tmpl, vals = "{} {} {}", ["abc", "de", "fgh"]
    ours = X.LLMAttribution(X.FeatureAblation(cm), tok).attribute(
        _text.TextTemplateInput(tmpl, vals, baselines=["", "a", "b"]), target=target)
    theirs = cattr.LLMAttribution(cattr.FeatureAblation(tm), ttok).attribute(
        cattr.TextTemplateInput(tmpl, vals, baselines=["", "a", "b"]), target=target,
        use_cached_outputs=False)
    d = max(np.max(np.abs(ours.seq_attr.numpy() - theirs.seq_attr.numpy())),
            np.max(np.abs(ours.token_attr.numpy() - theirs.token_attr.numpy())))
    report("LLMAttribution(FeatureAblation)", "TextTemplateInput, 3 segments", d)
    ours = X.LLMGradientAttribution(X.LayerIntegratedGradients(cm, cm.emb), tok).attribute(
        _text.TextTokenInput(prompt, tok), target=target, n_steps=50)
    theirs = cattr.LLMGradientAttribution(cattr.LayerIntegratedGradients(tm, tm.emb),
                                          ttok).attribute(
        cattr.TextTokenInput(prompt, ttok), target=target, n_steps=50,
        baselines=torch.zeros(1, len(prompt), dtype=torch.long))
    d = np.max(np.abs(ours.token_attr.numpy() - theirs.token_attr.numpy()))
    report("LLMGradientAttribution(LayerIG)", "50 steps, Gauss-Legendre", d)
    scale = np.max(np.abs(ours.token_attr.numpy()))
    report("LLMGradientAttribution(LayerIG)", "(largest |attribution|, for scale)", scale)


# -- TracInCP ----------------------------------------------------------------------------------
def tracin() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 1))
    xt, yt = rng.normal(size=(3, 4)), rng.normal(size=(3, 1))
    cm = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    tm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    with tempfile.TemporaryDirectory() as tmp:
        cpaths, tpaths = [], []
        for i, lr in enumerate([0.3, 0.1, 0.05]):
            for p in cm.parameters():
                with corefw.no_grad():
                    p.copy_(corefw.tensor(rng.normal(size=tuple(p.shape))))
            state = {k: v.detach().clone() for k, v in cm.state_dict().items()}
            cp = os.path.join(tmp, f"c{i}.safetensors")
            corefw.save({"model_state_dict": state, "learning_rate": lr}, cp)
            tp = os.path.join(tmp, f"t{i}.pt")
            torch.save({"model_state_dict": {k: torch.tensor(v.numpy()) for k, v in
                                             state.items()}, "learning_rate": lr}, tp)
            cpaths.append(cp)
            tpaths.append(tp)
        ours = X.TracInCP(cm, (corefw.tensor(x), corefw.tensor(y)), cpaths,
                          loss_fn=nn.MSELoss(reduction="sum"))
        got = ours.influence((corefw.tensor(xt), corefw.tensor(yt))).numpy()
        ds = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))

        def load(model, path):  # Captum's default loader takes a bare state dict, lr 1
            ck = torch.load(path)
            model.load_state_dict(ck["model_state_dict"])
            return ck["learning_rate"]

        theirs = cinfl.TracInCP(tm, ds, tpaths, checkpoints_load_func=load,
                                loss_fn=torch.nn.MSELoss(reduction="none"), batch_size=4)
        ref = theirs.influence((torch.tensor(xt), torch.tensor(yt))).numpy()
        report("TracInCP", "influence, 3 checkpoints, 12 train x 3 test", float(
            np.max(np.abs(got - ref))))
        report("TracInCP", "(largest |score|, for scale)", float(np.max(np.abs(ref))))
        si = ours.self_influence().numpy()
        sref = theirs.self_influence().numpy()
        report("TracInCP", "self_influence", float(np.max(np.abs(si - sref))))
        layer = X.TracInCP(cm, (corefw.tensor(x), corefw.tensor(y)), cpaths, layers=["2"],
                           loss_fn=nn.MSELoss(reduction="sum")).influence(
            (corefw.tensor(xt), corefw.tensor(yt))).numpy()
        tl = cinfl.TracInCP(tm, ds, tpaths, checkpoints_load_func=load, layers=["2"],
                            loss_fn=torch.nn.MSELoss(reduction="none"), batch_size=4)
        report("TracInCP", "influence, layers=['2']", float(np.max(np.abs(
            layer - tl.influence((torch.tensor(xt), torch.tensor(yt))).numpy()))))


def main() -> None:
    import captum

    for fn in (tcav, text, tracin):
        try:
            fn()
        except Exception as exc:  # keep going: one failing comparison is reported as such
            report(fn.__name__, f"FAILED: {type(exc).__name__}: {exc}"[:90], float("nan"))
    print(f"corefw-xai vs Captum {captum.__version__} (torch {torch.__version__}), float64")
    print(f"{'method':<34} {'comparison':<46} {'value':>10}")
    for name, what, v in ROWS:
        print(f"{name:<34} {what:<46} {v:>10.2e}")


if __name__ == "__main__":
    main()
