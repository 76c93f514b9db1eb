"""Bad command lines (issue 13): one line on stderr naming the problem and the fix, a non-zero
exit status, no traceback; ``--debug`` / ``COREFW_DEBUG=1`` shows the traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import corefw
from corefw import cli, demo


def _demo_fails(argv, capsys, tmp_path, status=2) -> str:
    base = ["--epochs", "1", "--limit", "8", "--quiet", "--no-explain"]
    if "--output" not in argv:
        base += ["--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as info:
        demo.main(base + argv)
    assert info.value.code == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("corefw demo: error: "), err
    return err


@pytest.mark.parametrize("argv, words", [
    (["--device", "tpu"], ["tpu", "--device cpu"]),
    (["--device", "cpu:1"], ["cpu:1", "does not exist"]),
    (["--device", "cuda:x"], ["malformed", "--device cpu"]),
    (["--lr", "-1"], ["--lr must be a positive number", "-1.0"]),
    (["--lr", "inf"], ["--lr must be a positive number"]),
    (["--lr", "abc"], ["--lr", "invalid float value", "--help"]),
    (["--seed", "-5"], ["--seed", "-5"]),
    (["--seed", str(2**63)], ["--seed"]),
    (["--epochs", "0"], ["--epochs must be at least 1"]),
    (["--bogus"], ["unrecognized arguments: --bogus"]),
])
def test_bad_demo_options(argv, words, capsys, tmp_path):
    err = _demo_fails(argv, capsys, tmp_path)
    for w in words:
        assert w in err, err


def test_cuda_without_a_gpu_says_how_to_install(capsys, tmp_path):
    backend = corefw.dispatch.backends().get("cuda")
    if backend is not None and backend.is_available():
        pytest.skip("a GPU is available here: --device cuda is valid")
    err = _demo_fails(["--device", "cuda"], capsys, tmp_path)
    if backend is None:
        assert "no backend is registered for device type 'cuda'" in err
    else:
        assert "unavailable" in err
    assert "--device cpu" in err and "plugins/cuda[cuda12]" in err and "docs/cuda.md" in err


def test_bad_output_directories(capsys, tmp_path):
    existing = tmp_path / "file"
    existing.write_text("x")
    err = _demo_fails(["--output", str(existing)], capsys, tmp_path)
    assert "existing file" in err and "directory" in err
    err = _demo_fails(["--output", str(existing / "sub")], capsys, tmp_path)
    assert "cannot be created" in err
    if os.name != "nt" and os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        err = _demo_fails(["--output", str(locked / "sub")], capsys, tmp_path)
        assert "cannot be created" in err


def test_a_damaged_resume_checkpoint_is_one_line(capsys, tmp_path):
    path = tmp_path / "ckpt.safetensors"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    assert demo.main(["--resume", str(path), "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "never unpickles" in err and "Traceback" not in err


def test_unexpected_errors_are_one_line_unless_debug(capsys, monkeypatch):
    def boom():
        raise KeyError("bug")

    assert cli.run_guarded("corefw x", boom) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and "--debug" in err
    with pytest.raises(KeyError):
        cli.run_guarded("corefw x", boom, debug=True)
    monkeypatch.setenv("COREFW_DEBUG", "1")
    assert cli.debug_enabled()
    monkeypatch.setenv("COREFW_DEBUG", "0")
    assert not cli.debug_enabled()


def test_top_level_command_errors(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'bogus'" in err


def test_end_to_end_no_traceback_and_debug(tmp_path):
    env = {**os.environ, "COREFW_DEBUG": ""}
    cmd = [sys.executable, "-m", "corefw", "demo", "--device", "tpu", "--output",
           str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
