"""Device and precision choice (splade_demo.compute) and the pooled-on-device encoder, run on the CPU."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from splade_demo import compute
from splade_demo.data.corpus import load_corpus
from splade_demo.models.loading import LoadedMLM, load_mlm
from splade_demo.retrieval.device import DeviceSpladeEncoder, device_max_pool, pooled_rows_to_csr
from splade_demo.retrieval.splade_encoder import SpladeEncoder, splade_max_pool, splade_max_pool_per_text
from splade_demo.retrieval.splade_index import document_text


def see(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool) -> None:
    """torch's two availability checks, patched at the one seam that asks them."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(("cuda", "mps", "picked"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, picked: str) -> None:
    monkeypatch.delenv("SPLADE_DEMO_DEVICE", raising=False)
    see(monkeypatch, cuda, mps)
    choice = compute.resolve_device("auto")
    assert choice.device == picked and picked in choice.reason.lower() or (picked == "cpu" and "cpu" in choice.reason.lower())
    assert compute.resolve_device(None).device == picked  # auto is the default


def test_the_environment_names_the_device_and_a_missing_accelerator_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    see(monkeypatch, cuda=False, mps=False)
    monkeypatch.setenv("SPLADE_DEMO_DEVICE", "cpu")
    assert compute.resolve_device(None).device == "cpu"
    monkeypatch.setenv("SPLADE_DEMO_DEVICE", "mps")
    with pytest.raises(ValueError, match="sees no MPS"):
        compute.resolve_device(None)
    with pytest.raises(ValueError, match="choose one of auto, cpu, cuda, mps"):
        compute.resolve_device("tpu")


def test_cli_index_auto_picks_the_cpu_here_and_says_so(tiny_splade_dir: Path, tiny_corpus_path: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    see(monkeypatch, cuda=False, mps=False)
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path))
    monkeypatch.setenv("SPLADE_DEMO_PRECISION", "fp32")
    result = run_cli("index", "--corpus", str(tiny_corpus_path), "--device", "auto", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["device"] == "cpu"
    assert "note: device cpu (auto: torch sees no CUDA or MPS device" in result.stderr
    refused = run_cli("index", "--corpus", str(tiny_corpus_path), "--device", "cuda")
    assert refused.returncode == 2 and refused.stderr.startswith("error: --device cuda: this torch")


def _caps(monkeypatch: pytest.MonkeyPatch, **flags: bool) -> None:
    monkeypatch.setattr(compute, "cpu_capabilities", lambda: dict(flags))
    monkeypatch.setattr(compute.sys, "platform", "linux")
    compute.precision_choice.cache_clear()


def test_the_precision_follows_torchs_capability_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        _caps(monkeypatch, amx_bf16=True, avx512_bf16=True, avx2=True)
        assert compute.default_precision() == "bf16"
        _caps(monkeypatch, avx512_bf16=True, avx512_vnni=True, avx2=True)
        assert compute.default_precision() == compute.AVX512_BF16_RULE
        _caps(monkeypatch, avx2=True)
        assert compute.default_precision() == "int8"
        _caps(monkeypatch)
        assert compute.default_precision() == "fp32"
        monkeypatch.setattr(compute.sys, "platform", "darwin")
        monkeypatch.setattr(compute.platform, "machine", lambda: "arm64")
        compute.precision_choice.cache_clear()
        assert compute.precision_choice().precision == "fp32" and "Accelerate" in compute.precision_choice().reason
    finally:
        compute.precision_choice.cache_clear()


def test_pooling_on_the_device_equals_the_cpu_path(loaded: LoadedMLM) -> None:
    tokenizer = loaded.tokenizer
    batch = tokenizer(["garbage collection in CPython", "reference counting frees memory when the count drops to zero"],
                      padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = loaded.model(**batch).logits
        reference = splade_max_pool(logits, batch["attention_mask"])
        per_text = splade_max_pool_per_text(logits, batch["attention_mask"])
        pooled = device_max_pool(logits.clone(), batch["attention_mask"])
    assert torch.equal(pooled, per_text)
    assert torch.allclose(pooled, reference, atol=1e-6)
    csr = pooled_rows_to_csr(pooled)
    assert csr.shape == tuple(pooled.shape) and csr.nnz == int((pooled != 0).sum())
    assert np.array_equal(csr.toarray(), pooled.numpy())


def test_the_device_encoder_on_the_cpu_equals_the_cpu_encoder(tiny_splade_dir: Path, encoder: SpladeEncoder,
                                                             tiny_corpus_path: Path) -> None:
    texts = [document_text(p) for p in load_corpus(str(tiny_corpus_path)).passages] + ["", "short one"]
    on_device = DeviceSpladeEncoder(load_mlm(str(tiny_splade_dir)), "cpu", dtype=torch.float32)
    assert on_device.precision == "fp32"
    got, want = on_device.encode_documents(texts, batch_size=3), encoder.encode_documents(texts, batch_size=3)
    assert (got != want).nnz == 0 and np.array_equal(got.indices, want.indices)


def test_bf16_on_the_device_path_keeps_the_top_terms(tiny_splade_dir: Path, encoder: SpladeEncoder,
                                                    tiny_corpus_path: Path) -> None:
    """The half-precision document path (as on a GPU), measured on the CPU at bf16: weights close to fp32's (bf16
    keeps 8 mantissa bits; errors add up over the layers), vectors pointing the same way, the same heaviest terms."""
    texts = [document_text(p) for p in load_corpus(str(tiny_corpus_path)).passages]
    half = DeviceSpladeEncoder(load_mlm(str(tiny_splade_dir)), "cpu", dtype=torch.bfloat16)
    assert half.precision == "bf16"
    got, want = half.encode_documents(texts).toarray(), encoder.encode_documents(texts).toarray()
    strong = want > 0.5
    assert np.median(np.abs(got[strong] - want[strong]) / want[strong]) < 0.02
    for g, w in zip(got, want):
        assert g @ w / (np.linalg.norm(g) * np.linalg.norm(w)) > 0.999
        assert len(set(np.argsort(-g)[:10]) & set(np.argsort(-w)[:10])) >= 8


def test_the_apps_background_build_follows_the_device_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from splade_demo.retrieval.device import build_encoder_loader

    def shared() -> SpladeEncoder:
        raise AssertionError("not called here")

    monkeypatch.delenv("SPLADE_DEMO_DEVICE", raising=False)
    see(monkeypatch, cuda=False, mps=False)
    assert build_encoder_loader("model", "int8", shared) is shared  # the CPU: the pages' own encoder
    see(monkeypatch, cuda=False, mps=True)
    assert build_encoder_loader("model", "int8", shared) is not shared  # an encoder of its own on MPS
    monkeypatch.setenv("SPLADE_DEMO_DEVICE", "cpu")
    assert build_encoder_loader("model", "int8", shared) is shared
    monkeypatch.setenv("SPLADE_DEMO_DEVICE", "nonsense")
    assert build_encoder_loader("model", "int8", shared) is shared
