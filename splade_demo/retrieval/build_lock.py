"""One builder per cached index: a lock file beside it, so two servers on one cache (or `index` on the CLI while the
app builds) never encode the same corpus twice or write over each other.

`<index>.lock` is created exclusively (O_EXCL) and holds the builder's pid and host. Another process waits while
the holder is alive, then loads what it built (or, if the holder stopped early, resumes from its saved batches).
Stale rule: a lock whose pid no longer runs on this host is removed. A lock from another host is waited for.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

POLL_S = 0.5  # how often a waiting builder looks at the lock again
_HELD: set[str] = set()  # lock files this process holds (a second thread of the same process waits in-process)
_HELD_LOCK = threading.Lock()


def lock_path(index_path: Path) -> Path:
    return Path(index_path).with_suffix(".lock")


@contextlib.contextmanager
def build_lock(index_path: Path, on_wait: Callable[[int], None] | None = None) -> Iterator[bool]:
    """Hold the build lock of `index_path` for the block; yields True when another builder held it first (the
    caller then looks for its result before building). While waiting, `on_wait(holder pid)` is called at every
    poll (it may raise to stop waiting). A cache folder that cannot be written is built without a lock."""
    path = lock_path(index_path)
    waited = False
    while (owned := _try_acquire(path)) is False:
        holder = _holder(path)
        if holder is not None and _is_stale(holder, path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        if on_wait is not None:
            on_wait(int(holder["pid"]) if holder else 0)
        waited = True
        time.sleep(POLL_S)  # waiting on another process: no event to wait on across processes
    try:
        yield waited
    finally:
        if owned:
            with _HELD_LOCK:
                _HELD.discard(str(path))
            with contextlib.suppress(OSError):
                path.unlink()


def _try_acquire(path: Path) -> bool | None:
    """True: the lock is ours; False: another builder holds it; None: no lock can be written here (go on)."""
    with _HELD_LOCK:
        if str(path) in _HELD:
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError:
            return None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}, handle)
        _HELD.add(str(path))
        return True


def _holder(path: Path) -> dict | None:
    """The lock's record; None while it is being written or after it was removed."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def _is_stale(holder: dict, path: Path) -> bool:
    with _HELD_LOCK:
        if str(path) in _HELD:
            return False  # another thread of this process builds it
    if holder.get("host") != socket.gethostname():
        return False  # another machine's process: its pid means nothing here
    pid = int(holder["pid"])
    if pid == os.getpid():  # not held by this process (`_HELD` says so): left by an earlier one with our pid
        return True         # (a container restarts its server with the same pid)
    return not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        import ctypes  # (Windows only)

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x100000, False, pid)  # SYNCHRONIZE
        if not handle:
            return False
        try:
            return kernel32.WaitForSingleObject(handle, 0) == 0x102  # WAIT_TIMEOUT: still running
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
