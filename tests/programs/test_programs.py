"""The PyTorch-style programs in this folder, run unmodified through :mod:`corefw.compat`.

Each program imports ``torch`` (never corefw), trains briefly on the embedded digits (or, for
the LBFGS fit, sine waves) and keeps its per-step losses in a list; the test asserts that the
loss falls: the mean of the last window is below the first window's by a real margin.
"""

from __future__ import annotations

import os
import time

import pytest

from corefw import compat

HERE = os.path.dirname(os.path.abspath(__file__))

# program, its arguments, the list of losses in its globals, required fall (last/first < this)
PROGRAMS = [
    ("cnn_adadelta.py", ["--epochs", "2"], "losses", 0.6),
    ("vae.py", ["--epochs", "4"], "losses", 0.8),
    # a GAN's two losses fight rather than fall: its falling measure is how far generated
    # digits are from real ones (per-pixel mean and spread), which the program tracks
    ("dcgan.py", ["--niter", "2"], "sample_distances", 0.6),
    ("word_lm.py", ["--model", "LSTM"], "losses", 0.8),
    ("word_lm.py", ["--model", "Transformer", "--lr", "3"], "losses", 0.9),
    ("lbfgs_sine.py", ["--steps", "3"], "losses", 0.5),
    ("gpt_char.py", [], "losses", 0.6),
    ("siamese.py", [], "losses", 0.7),
    ("rnn_rows.py", [], "losses", 0.6),
    ("autoencoder_ckpt.py", [], "losses", 0.7),
    ("finetune.py", [], "losses", 0.7),
    ("seq2seq_gru.py", [], "losses", 0.5),
]


def _falls(losses: list[float]) -> tuple[float, float]:
    """Means of the first and the last fifth (at least 3 values each)."""
    k = max(3, len(losses) // 5)
    return sum(losses[:k]) / k, sum(losses[-k:]) / k


@pytest.mark.parametrize(("program", "argv", "key", "ratio"), PROGRAMS,
                         ids=[f"{p[0][:-3]}{'-' + p[1][1] if p[0] == 'word_lm.py' else ''}"
                              for p in PROGRAMS])
def test_program_loss_falls(program, argv, key, ratio, capsys):
    start = time.process_time()
    result = compat.run_path(os.path.join(HERE, program), argv)
    cpu = time.process_time() - start
    losses = result[key]
    assert len(losses) >= 10 and all(isinstance(v, float) for v in losses), losses[:5]
    first, last = _falls(losses)
    out = capsys.readouterr().out
    assert last < ratio * first, (program, argv, first, last, out[-2000:])
    print(f"{program} {' '.join(argv)}: loss {first:.4f} -> {last:.4f} in {cpu:.1f} s CPU")
