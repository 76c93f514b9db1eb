"""corefw.compat: the torch alias finder, the script runner and its errors, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import corefw
from corefw import compat

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _script(tmp_path, text: str, name: str = "script.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_aliases_are_the_corefw_modules_and_are_removed():
    with compat.torch_aliases():
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.optim.lr_scheduler as sched
        import torch.utils.data
        from torch.nn.utils.rnn import pad_sequence

        import corefw.nn.utils.rnn
        import corefw.optim.lr_scheduler

        assert torch is corefw and nn is corefw.nn and F is corefw.nn.functional
        assert sched is corefw.optim.lr_scheduler
        assert torch.utils.data.DataLoader is corefw.data.DataLoader
        assert pad_sequence is corefw.nn.utils.rnn.pad_sequence
        assert sys.modules["torch.nn"] is corefw.nn
    assert not [k for k in sys.modules if k == "torch" or k.startswith("torch.")]


def test_a_real_torch_is_hidden_and_restored():
    fake = type(sys)("torch")
    sys.modules["torch"] = fake
    try:
        with compat.torch_aliases():
            import torch
            assert torch is corefw
        assert sys.modules["torch"] is fake
    finally:
        del sys.modules["torch"]


def test_missing_module_names_the_torch_module():
    with pytest.raises(compat.MissingTorchModuleError, match=r"torch\.no_such_module") as info:
        with compat.torch_aliases():
            import torch.no_such_module  # noqa: F401
    assert info.value.name == "torch.no_such_module" and "docs/torch-compat.md" in str(info.value)
    assert isinstance(info.value, ModuleNotFoundError)
    assert isinstance(info.value, corefw.CorefwError)
    with pytest.raises(compat.MissingTorchModuleError, match="torchvision is not provided"):
        with compat.torch_aliases():
            import torchvision  # noqa: F401


def test_missing_attributes_name_the_torch_name(tmp_path):
    cases = {
        "torch.no_such_function(1)": "torch.no_such_function",
        "torch.ones(2).no_such_method()": "torch.Tensor.no_such_method",
        "torch.nn.functional.no_such_fn": "torch.nn.functional.no_such_fn",
        "torch.Tensor.no_such_attr": "torch.Tensor.no_such_attr",
        "torch.optim.NoSuchOptimizer": "torch.optim.NoSuchOptimizer",
        "torch.optim.SGD([torch.ones(1)], lr=1).no_such": "torch.optim.SGD.no_such",
        "torch.nn.Linear(1, 1).weight.no_such": "torch.nn.Parameter.no_such",
    }
    for line, name in cases.items():
        path = _script(tmp_path, f"import torch\nimport torch.nn.functional\n{line}\n")
        with pytest.raises(compat.MissingTorchNameError) as info:
            compat.run_path(path)
        assert info.value.torch_name == name, (line, str(info.value))
        assert "docs/torch-compat.md" in str(info.value) and isinstance(info.value, AttributeError)
    path = _script(tmp_path, "from torch.nn import NoSuchLayer\n")
    with pytest.raises(compat.MissingTorchImportError, match=r"torch\.nn\.NoSuchLayer"):
        compat.run_path(path)


def test_user_errors_are_left_alone(tmp_path):
    """An attribute missing on the script's own objects is the script's bug, not corefw's."""
    path = _script(tmp_path, """
        import torch.nn as nn
        class Net(nn.Module):
            pass
        class Plain:
            pass
        try:
            Net().fc9
        except AttributeError as exc:
            first = exc
        Plain().missing
        """)
    with pytest.raises(AttributeError) as info:
        compat.run_path(path)
    assert not isinstance(info.value, compat.TorchCompatError)
    # hasattr inside the script still answers False (no translation while it runs)
    path = _script(tmp_path, "import torch\nanswer = hasattr(torch, 'no_such_name')\n")
    assert compat.run_path(path)["answer"] is False


def test_run_path_argv_main_syspath_and_device(tmp_path):
    _script(tmp_path, "VALUE = 41\n", name="neighbour.py")
    path = _script(tmp_path, """
        import sys
        import torch
        from neighbour import VALUE
        argv = list(sys.argv)
        name = __name__
        device = str(torch.ones(1).device)
        """)
    before_argv, before_path = list(sys.argv), list(sys.path)
    result = compat.run_path(path, ["--x", "1"], device="meta")
    assert result["argv"] == [path, "--x", "1"] and result["name"] == "__main__"
    assert result["VALUE"] == 41 and result["device"] == "meta"
    assert sys.argv == before_argv and sys.path == before_path
    assert str(corefw.get_default_device()) == "cpu"
    with pytest.raises(FileNotFoundError, match="no such script"):
        compat.run_path(tmp_path / "absent.py")


def test_cli_traceback_starts_at_the_script_and_exit_status(tmp_path):
    path = _script(tmp_path, """
        import sys
        import torch
        print("ran", torch.tensor([1.0, 2.0]).sum().item(), sys.argv[1:])
        if sys.argv[1:] == ["fail"]:
            torch.ones(2).no_such_method()
        sys.exit(3 if sys.argv[1:] == ["three"] else 0)
        """)
    env = dict(os.environ, PYTHONPATH=ROOT)

    def run(*args):
        return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                              env=env, timeout=120)

    ok = run("corefw.compat", path, "a", "--b")
    assert ok.returncode == 0 and "ran 3.0 ['a', '--b']" in ok.stdout, ok.stderr
    assert run("corefw", "compat", path, "three").returncode == 3
    bad = run("corefw.compat", path, "fail")
    assert bad.returncode == 1
    lines = bad.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):", bad.stderr
    assert lines[1].startswith(f'  File "{path}", line 6'), bad.stderr
    assert "compat" not in bad.stderr.split("\n", 2)[1]
    assert lines[-1].startswith("corefw.compat.MissingTorchNameError: "
                                "torch.Tensor.no_such_method is not available"), lines[-1]
    assert run("corefw.compat", str(tmp_path / "absent.py")).returncode == 2


def test_aliasing_leaves_corefw_modules_their_own_specs():
    import importlib.util

    import corefw.compat as compat

    with compat.torch_aliases():
        import torch
        import torch.nn  # noqa: F401
        assert torch is corefw
    assert corefw.__spec__.name == "corefw" and corefw.nn.__spec__.name == "corefw.nn"
    assert importlib.util.find_spec("corefw").submodule_search_locations  # tools (grimp) rely on it
