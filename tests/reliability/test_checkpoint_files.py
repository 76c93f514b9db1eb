"""Checkpoint files on disk (issue 13): lazy mmap loads, stale temporaries of killed writers,
symlinks."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from checkpoint_helpers import entry, raw_file

import corefw
from corefw import _checkpoint_files as files
from corefw import serialization as ser
from corefw.errors import CheckpointError

_BIG = 1 << 30  # 1 GiB of float32 zeros, sparse on disk


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_mmap_reads_only_the_tensor_used(tmp_path):
    n = _BIG // 4
    header = {"big": entry("F32", (n,), (0, _BIG)), "small": entry("F32", (4,), (_BIG,
                                                                                  _BIG + 16))}
    path = raw_file(tmp_path / "large.safetensors", header)
    with open(path, "r+b") as f:  # the small tensor at the very end; the rest stays a hole
        f.seek(0, os.SEEK_END)
        f.seek(f.tell() + _BIG)
        f.write(np.arange(4, dtype=np.float32).tobytes())
    before = _rss_bytes()
    out = corefw.load(path, mmap=True)
    assert out["small"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert tuple(out["big"].shape) == (n,)
    grown = _rss_bytes() - before
    assert grown < 64 * 1024 * 1024, f"loading one tensor grew the RSS by {grown} bytes"
    out["small"][0] = 7.0  # copy-on-write: the loaded tensor is writable, the file unchanged
    assert corefw.load(path, mmap=True)["small"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_mmap_checks_and_verify(tmp_path):
    path = tmp_path / "c.safetensors"
    state = {"w": corefw.arange(8.0), "m": corefw.tensor([True, False]), "e": corefw.zeros(0)}
    corefw.save(state, path)
    out = corefw.load(path, mmap=True)
    assert out["w"].tolist() == state["w"].tolist() and out["m"].tolist() == [True, False]
    with open(path, "rb") as f:  # a file opened from disk can be mapped too
        assert corefw.load(f, mmap=True)["w"].tolist() == state["w"].tolist()
    data = bytearray(path.read_bytes())
    data[-12] ^= 0x40  # inside the payload of "w"
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        corefw.load(path, mmap=True, verify=True)  # verify=True hashes through the map
    with pytest.raises(CheckpointError, match="SHA-256"):
        corefw.load(path)
    assert corefw.load(path, mmap=True)["w"].shape == (8,)  # documented: lazy, unverified


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    name = files.temp_name("ckpt.safetensors")
    host, _pid, token = name.split(".")[3:6]
    stale = tmp_path / f".ckpt.safetensors.{host}.{dead_pid}.{token}.tmp"
    live = tmp_path / f".ckpt.safetensors.{host}.{os.getpid()}.{token}.tmp"
    other_host = tmp_path / f".ckpt.safetensors.0badc0de.{dead_pid}.{token}.tmp"
    other_file = tmp_path / f".other.safetensors.{host}.{dead_pid}.{token}.tmp"
    for p in (stale, live, other_host, other_file):
        p.write_bytes(b"partial")
    corefw.save({"a": 1}, path)
    assert not stale.exists()
    assert live.exists() and other_host.exists() and other_file.exists()
    assert corefw.load(path) == {"a": 1}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX signals")
def test_saves_killed_with_sigkill_lose_nothing(tmp_path):
    sys.path.insert(0, os.path.dirname(__file__))
    try:
        from kill_saves import run
    finally:
        sys.path.pop(0)
    result = run(3, str(tmp_path))
    assert result["kills"] == result["intact"] == 3
    assert result["remaining"] == 0  # the next save removed every stale temporary


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_saving_to_a_symlink_replaces_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "ckpt.safetensors"
    link = tmp_path / "latest.safetensors"
    corefw.save({"v": 1}, target)
    os.symlink(target, link)
    corefw.save({"v": 2}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert corefw.load(target) == {"v": 2} and corefw.load(link) == {"v": 2}
    dangling = tmp_path / "dangling.safetensors"
    os.symlink(tmp_path / "real" / "new.safetensors", dangling)
    corefw.save({"v": 3}, dangling)
    assert dangling.is_symlink() and corefw.load(tmp_path / "real" / "new.safetensors") == {"v": 3}
    assert ser.load(dangling) == {"v": 3}
