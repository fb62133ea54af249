"""Dropping the resident pages of a memory-mapped tensor: only file-backed whole pages, data intact."""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from splade_demo.models.mapped_pages import page_releaser

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise on /proc/self/maps: Linux")


def resident_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile line")


def test_a_mapped_tensor_gives_back_its_pages_and_keeps_its_values(tmp_path: Path) -> None:
    values = np.arange(16 * 2**20 // 4, dtype=np.float32)  # 16 MB
    path = tmp_path / "weights.bin"
    values.tofile(path)
    mapped = np.memmap(path, dtype=np.float32, mode="c")  # private, like safetensors' mapping
    tensor = torch.from_numpy(mapped)
    float(tensor.sum())  # read every page
    before = resident_kb()
    released = page_releaser()(tensor)
    assert released >= 16 * 2**20 - 2 * mmap.PAGESIZE and released % mmap.PAGESIZE == 0
    assert resident_kb() < before - 12 * 1024  # most of the 16 MB left the resident set
    assert torch.equal(tensor, torch.from_numpy(values))  # read back from the file, unchanged


def test_memory_that_is_not_a_mapped_file_is_never_touched() -> None:
    tensor = torch.arange(4 * 2**20, dtype=torch.float32)  # anonymous memory: dropping it would zero it
    assert page_releaser()(tensor) == 0
    assert torch.equal(tensor, torch.arange(4 * 2**20, dtype=torch.float32))
    assert page_releaser()(tensor[::2]) == 0  # not contiguous: left alone
