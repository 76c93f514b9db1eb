"""Where checkpoint bytes come from and go to: paths, open files, atomic replacement.

Reading: a path is ``stat``-ed and refused unless it is a regular file (a FIFO would block
forever, a device never ends), then opened without blocking; an open binary file or
``io.BytesIO`` is read from its current position. Writing to a path goes through a temporary
file beside the target (``.<name>.<host>.<pid>.<random>.tmp``), fsync'ed and renamed onto the
target; the next save to the same path removes such temporaries whose writer process on this
host is gone. A symlink's target is replaced, not the link (as ``torch.save`` does).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import secrets
import socket
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from .errors import CheckpointError

_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}
_ZIP_MAGIC = b"PK\x03\x04"


class Source:
    """An open checkpoint: the file object, a label for messages, its size from ``start``,
    and the path or file that can be memory-mapped (None for in-memory streams)."""

    __slots__ = ("fh", "label", "size", "start", "mappable")

    def __init__(self, fh: BinaryIO, label: str, size: int, start: int, mappable: Any) -> None:
        self.fh, self.label, self.size, self.start, self.mappable = fh, label, size, start, mappable


def is_file_object(f: object) -> bool:
    return hasattr(f, "read") or hasattr(f, "write")


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _refuse_special(path: str, mode: int, verb: str) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, f"corefw.{verb}: {path!r} is a directory; pass "
                                              f"a file path", path)
    if not stat.S_ISREG(mode):
        raise CheckpointError(
            f"corefw.{verb}: {path!r} is {_kind(mode)}, not a regular file; corefw {verb}s "
            f"checkpoints only from regular files (pass an open file object to "
            f"{'read from' if verb == 'load' else 'write to'} a stream)")


@contextmanager
def open_source(f: Any) -> Iterator[Source]:
    """Open ``f`` (a path or a readable binary file object) for reading a checkpoint."""
    if hasattr(f, "read"):
        yield _file_object_source(f)
        return
    path = os.fspath(f)
    _refuse_special(path, os.stat(path).st_mode, "load")  # before open: a FIFO would block
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        _refuse_special(path, st.st_mode, "load")  # it may have been swapped since the stat
        yield Source(fh, path, st.st_size, 0, path)


def _file_object_source(f: Any) -> Source:
    label = getattr(f, "name", None)
    label = label if isinstance(label, str) else f"<{type(f).__module__}.{type(f).__name__}>"
    probe = f.read(0)
    if not isinstance(probe, bytes | bytearray):
        raise TypeError(f"corefw.load: the file object {label!r} is open in text mode; open "
                        f"it with 'rb'")
    seekable = getattr(f, "seekable", lambda: False)()
    if not seekable:  # a pipe or socket: its length is only known once it is read
        data = f.read()
        return Source(io.BytesIO(data), label, len(data), 0, None)
    start = f.tell()
    size = f.seek(0, io.SEEK_END) - start
    f.seek(start)
    mappable = None
    try:
        if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            mappable = f
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    if not hasattr(f, "readinto"):
        f = io.BufferedReader(f)  # type: ignore[arg-type]
    return Source(f, label, size, start, mappable)


def diagnose_foreign(src: Source) -> CheckpointError | None:
    """A specific error when the checkpoint is a PyTorch pickle file, else None."""
    fh = src.fh
    try:
        fh.seek(src.start)
        head = fh.read(4)
    except (OSError, ValueError):
        return None
    if head == _ZIP_MAGIC:
        what = "a PyTorch checkpoint in torch.save's zip format (a pickle)"
    elif head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        what = "a Python pickle (torch.save's legacy format)"
    else:
        return None
    return CheckpointError(
        f"checkpoint {src.label!r} is {what}, which corefw never unpickles (unpickling runs "
        f"code from the file); convert it once where PyTorch is installed: python -c \"import "
        f"torch; from safetensors.torch import save_file; save_file(torch.load('IN.pt', "
        f"weights_only=True), 'OUT.safetensors')\" (for a state dict of tensors), then "
        f"corefw.load('OUT.safetensors')")


# ---------------------------------------------------------------------------------------------
# writing


_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
_TEMP = re.compile(r"\.(?P<host>[0-9a-f]{8})\.(?P<pid>[0-9]+)\.[0-9a-f]{12}\.tmp\Z")


def temp_name(base: str) -> str:
    """The name of a new temporary file for the target file name ``base``."""
    return f".{base}.{_HOST}.{os.getpid()}.{secrets.token_hex(6)}.tmp"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or we cannot tell: keep its file
    return True


def remove_stale_temporaries(directory: str, base: str) -> list[str]:
    """Remove the temporaries of saves to ``base`` in ``directory`` whose writer (a process on
    this host) has died, e.g. by SIGKILL; returns the removed paths. Temporaries of live
    writers and of other hosts (a shared file system) are left alone."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return []
    prefix = f".{base}."
    removed = []
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return []
    for name in names:
        m = _TEMP.match(name, len(prefix) - 1)
        if m is None or m.start() != len(prefix) - 1 or m.group("host") != _HOST:
            continue
        if _alive(int(m.group("pid"))):
            continue
        path = os.path.join(directory, name)
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


def save_target(path: str) -> str:
    """The file a save to ``path`` replaces: a symlink's final target (so the link stays a
    link); refuses directories and special files before anything is written."""
    real = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return real
    _refuse_special(path, mode, "save")
    return real


def atomic_write(path: str, write: Callable[[Any], None]) -> None:
    """Write through ``write(fileobj)`` to a temporary file beside ``path``, fsync it and
    rename it onto ``path``; on any error remove the temporary file and re-raise."""
    target = save_target(path)
    directory, base = os.path.split(target)
    remove_stale_temporaries(directory, base)
    while True:
        tmp = os.path.join(directory, temp_name(base))
        try:  # mode 0o666 less the umask, as open() would give
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as fh:
            try:
                os.chmod(tmp, os.stat(target).st_mode & 0o7777)  # keep the old file's mode
            except OSError:
                pass
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename durable where the platform allows (not on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
