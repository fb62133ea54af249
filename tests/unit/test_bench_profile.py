"""The multiply-adds per word piece that `benchmarks/bench_demo_size.py --profile` divides the matrix products' time
by: computed from the config's sizes, checked against every `nn.Linear` of a real masked-LM model."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

from splade_demo.models.loading import load_mlm
from tests.conftest import REPO_ROOT


def test_linear_macs_are_those_of_the_models_own_linear_layers(tiny_splade_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    bench = importlib.import_module("bench_demo_size")
    model = load_mlm(str(tiny_splade_dir)).model
    per_word_piece = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert bench.linear_macs_per_word_piece(model.config) == per_word_piece
