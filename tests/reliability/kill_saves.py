"""Kill ``corefw.save`` with SIGKILL mid-write, many times, and check that nothing is lost.

Each round starts a writer process that saves a ~16 MB checkpoint to the same path in a loop,
kills it with SIGKILL once its temporary file exists (so the kill lands during a write), and
checks that the file at the path still loads, verified, as one of the complete versions. The
next save in this process must remove the temporaries the killed writers left.

    python tests/reliability/kill_saves.py 30     # the figure in docs/reliability.md

The test suite runs a few rounds (tests/reliability/test_checkpoint_files.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

_WRITER = """
import sys, corefw
path = sys.argv[1]
state = {"w": corefw.ones(4 * 1024 * 1024), "round": 0}
i = 0
while True:
    i += 1
    state["round"] = i
    corefw.save(state, path)
"""


def _temporaries(directory: str, base: str) -> list[str]:
    return [n for n in os.listdir(directory) if n.startswith(f".{base}.") and n.endswith(".tmp")]


def run(rounds: int, directory: str) -> dict[str, int]:
    """Kill ``rounds`` writers; returns the counts (kills, intact loads, temporaries left
    behind, temporaries removed by the next save)."""
    import corefw

    path = os.path.join(directory, "ckpt.safetensors")
    corefw.save({"w": corefw.ones(4 * 1024 * 1024), "round": 0}, path)
    kills = intact = 0
    for _ in range(rounds):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, path])
        try:
            deadline = time.monotonic() + 60
            while not _temporaries(directory, "ckpt.safetensors"):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the writer never started a save")
                time.sleep(0.002)
            time.sleep(0.005 * (kills % 4))  # land at different moments of the write
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        kills += 1
        ckpt = corefw.load(path, verify=True)  # raises if the file were damaged
        if ckpt["w"].shape == (4 * 1024 * 1024,) and isinstance(ckpt["round"], int):
            intact += 1
    left = len(_temporaries(directory, "ckpt.safetensors"))
    corefw.save({"w": corefw.zeros(1), "round": -1}, path)
    after = len(_temporaries(directory, "ckpt.safetensors"))
    return {"kills": kills, "intact": intact, "temporaries_left": left,
            "removed_by_next_save": left - after, "remaining": after}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as tmp:
        print(run(n, tmp))
