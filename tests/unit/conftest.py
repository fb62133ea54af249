"""Unit fixtures shared by the SPLADE tests: the real tiny SPLADE loaded once per module, and its fp32 encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from splade_demo.models.loading import LoadedMLM, load_mlm
from splade_demo.retrieval.splade_encoder import SpladeEncoder


@pytest.fixture(scope="module")
def loaded(tiny_splade_dir: Path) -> LoadedMLM:
    return load_mlm(str(tiny_splade_dir))


@pytest.fixture(scope="module")
def encoder(loaded: LoadedMLM) -> SpladeEncoder:
    """The tiny SPLADE at fp32 (exact)."""
    return SpladeEncoder(loaded, precision="fp32")
