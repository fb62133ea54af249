"""Give back the resident pages of memory-mapped weights that will not be read again (Linux).

safetensors weights are memory-mapped: every page that has been read stays in the process's resident
set for as long as the file is mapped. When an int8 copy is made from fp32 weights that nothing will
read afterwards, dropping each weight's pages right after its int8 version exists keeps the two
models from being resident at the same time. Only whole pages inside a file-backed mapping are
dropped (madvise MADV_DONTNEED): a later read would fetch them from the file again, unchanged.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from typing import Callable

import torch

MADV_DONTNEED = 4  # linux/mman.h

Releaser = Callable[[torch.Tensor], int]


def file_backed_ranges() -> list[tuple[int, int]]:
    """[start, end) of this process's mappings that are backed by a file (inode != 0)."""
    ranges = []
    with open("/proc/self/maps", encoding="utf-8") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[4] != "0":
                start, end = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


def page_releaser() -> Releaser | None:
    """A function that drops a tensor's pages if they lie in a mapped file, or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ranges = file_backed_ranges()
    except (OSError, AttributeError):
        return None
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

    def release(tensor: torch.Tensor) -> int:
        """Bytes dropped from the resident set (0 for an in-memory tensor)."""
        if not tensor.is_contiguous():
            return 0
        start = tensor.data_ptr()
        end = start + tensor.numel() * tensor.element_size()
        first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages only: neighbours keep theirs
        last = end // mmap.PAGESIZE * mmap.PAGESIZE
        if last <= first or not any(lo <= first and last <= hi for lo, hi in ranges):
            return 0
        return last - first if libc.madvise(first, last - first, MADV_DONTNEED) == 0 else 0

    return release
