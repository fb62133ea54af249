"""Cores, load and peak memory on every OS, with each OS's absences forced on this Linux machine.

macOS and Windows have no `os.sched_getaffinity`; Windows has no `os.getloadavg` and no `resource` module;
Python 3.13 adds `os.process_cpu_count`; `ru_maxrss` is kilobytes on Linux and bytes on macOS.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import SimpleNamespace

import pytest
import torch

from splade_demo.models.admission import available_cores
from splade_demo.models.loading import load_mlm
from splade_demo.models.mapped_pages import page_releaser
from splade_demo.models.quantize import quantized_copy
from tests.conftest import REPO_ROOT


@pytest.fixture()
def bench_common(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    return importlib.import_module("_common")


def test_cores_on_python_3_13_come_from_process_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "process_cpu_count", lambda: 3, raising=False)
    assert available_cores() == 3
    monkeypatch.setattr(os, "process_cpu_count", lambda: None, raising=False)  # "cannot tell"
    assert available_cores() == 1


def test_cores_before_3_13_are_the_affinity_where_the_os_has_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert available_cores() == 1  # pinned to one core of eight


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_cores_without_affinity_are_the_cpu_count(monkeypatch: pytest.MonkeyPatch, platform: str) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert available_cores() == 8
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert available_cores() == 1


def test_benchmarks_count_cores_and_load_on_every_os(bench_common, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "process_cpu_count", lambda: 5, raising=False)
    assert bench_common.usable_cores() == 5
    monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 1.0, 0.25), raising=False)
    assert bench_common.load_average() == "1.50 1.00 0.25"
    monkeypatch.delattr(os, "getloadavg", raising=False)  # Windows
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert bench_common.load_average() == "n/a" and not bench_common.busy()
    assert "5 usable" in bench_common.machine_report()


@pytest.mark.parametrize(("platform", "maxrss", "expected_mb"), [("linux", 2048 * 1024, 2048.0),
                                                                  ("darwin", 2048 * 2**20, 2048.0)])
def test_peak_rss_is_megabytes_whatever_the_unit(bench_common, monkeypatch: pytest.MonkeyPatch, platform: str,
                                                 maxrss: int, expected_mb: float) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(bench_common, "resource", SimpleNamespace(
        RUSAGE_SELF=0, getrusage=lambda _who: SimpleNamespace(ru_maxrss=maxrss)))
    assert bench_common.peak_rss_mb() == expected_mb


def test_peak_rss_is_none_without_getrusage(bench_common, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(bench_common, "resource", None)
    assert bench_common.peak_rss_mb() is None


def test_peak_rss_of_this_process_is_plausible(bench_common) -> None:
    if bench_common.resource is None:
        pytest.skip("no getrusage on this OS")
    assert 10 < bench_common.peak_rss_mb() < 1_000_000  # MB: a Python process with numpy, not KB or bytes


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_off_linux_int8_copies_keep_their_pages_and_are_the_same(tiny_splade_dir, monkeypatch: pytest.MonkeyPatch,
                                                                  platform: str) -> None:
    """madvise on /proc/self/maps is Linux only: elsewhere no pages are given back, and the int8 copy is unchanged."""
    on_linux = quantized_copy(load_mlm(str(tiny_splade_dir)).model, share_tensors=False)
    monkeypatch.setattr(sys, "platform", platform)
    assert page_releaser() is None
    elsewhere = quantized_copy(load_mlm(str(tiny_splade_dir)).model, share_tensors=False)
    ids = torch.tensor([[101, 3185, 3638, 2968, 102]])
    with torch.no_grad():
        assert torch.equal(on_linux(input_ids=ids).logits, elsewhere(input_ids=ids).logits)
