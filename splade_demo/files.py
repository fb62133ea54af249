"""Putting a finished file or folder in place on every OS, Windows included.

POSIX replaces a file that others hold open. Windows does not: a reader, an antivirus scan or a memory map
(safetensors weights, gensim vectors) keeps the file, and its folder, from being renamed or deleted until it is
closed, and `os.replace` raises PermissionError meanwhile. So a replace is retried a bounded number of times,
and a folder being replaced is first renamed aside as an old generation, deleted when nothing holds it any more
(at once on POSIX; on Windows by a later call).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable

RETRIES = 6
RETRY_WAIT_S = 0.05  # then 0.1, 0.15 ... : about a second in all, for a scan or a reader to let go
OLD_MARK = ".old-"


def replace_file(source: Path, target: Path, sleep: Callable[[float], None] = time.sleep, name: str = "") -> None:
    """`os.replace(source, target)`, retried while Windows reports the target (or source) in use; the error then
    names `name` (default: the target's name)."""
    for attempt in range(1, RETRIES + 1):
        try:
            os.replace(source, target)
            return
        except PermissionError as exc:
            if attempt == RETRIES:
                raise PermissionError(exc.errno, f"{name or Path(target).name} is in use by another program or a "
                                      "memory map (Windows cannot replace an open file); close it and try again",
                                      str(target)) from exc
            sleep(RETRY_WAIT_S * attempt)


def old_generations(target: Path) -> list[Path]:
    """The generations of `target` renamed aside by `replace_folder` and not deleted yet."""
    return sorted(Path(target).parent.glob(f".{Path(target).name}{OLD_MARK}*"))


def remove_old_generations(target: Path) -> None:
    """Delete what is left of earlier generations of `target`; a file still held open stays for next time."""
    for old in old_generations(target):
        shutil.rmtree(old, ignore_errors=True)


def replace_folder(staging: Path, target: Path, sleep: Callable[[float], None] = time.sleep) -> None:
    """Put the complete folder `staging` at `target`: an existing `target` is renamed aside first (an old
    generation, then deleted), since a folder cannot be renamed over a non-empty one on any OS."""
    target = Path(target)
    remove_old_generations(target)
    if target.exists():
        replace_file(target, target.with_name(f".{target.name}{OLD_MARK}{uuid.uuid4().hex[:12]}"), sleep, target.name)
    replace_file(Path(staging), target, sleep, target.name)
    remove_old_generations(target)
