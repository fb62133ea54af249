"""The SPLADE encoder against sentence-transformers' SparseEncoder (the oracle), on the real tiny SPLADE."""

from __future__ import annotations

import copy
import gc
import json
import subprocess
import warnings
import weakref
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from splade_demo.models.loading import LoadedMLM, load_mlm
from splade_demo.explain.splade_view import position_term_grid, shared_terms, term_weights
from splade_demo.models.quantize import bf16_copy, bf16_is_native, dynamic_int8_linear, quantized_copy
from splade_demo.retrieval.sparse_terms import is_special_or_piece
from splade_demo.retrieval.splade_encoder import (SpladeEncoder, max_over_positions, plan_batches, splade_max_pool,
                                                  splade_max_pool_per_text)
from tests.conftest import TINY_PASSAGES, ProgressRecorder

QUERIES = ["python memory management", "free unused objects", "json decode error", "run code in parallel", "gc", "a"]
LONG_TEXT = " ".join(p["text"] for p in TINY_PASSAGES) * 3  # well over 256 word pieces
DOCUMENTS = [f"{p['title']} {p['text']}" for p in TINY_PASSAGES] + [LONG_TEXT, "x"]


@pytest.fixture(scope="module")
def oracle(tiny_splade_dir: Path):
    """sentence-transformers' SPLADE: MLMTransformer + SpladePooling("max"), built from modules."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers import SparseEncoder
        from sentence_transformers.sparse_encoder.models import MLMTransformer, SpladePooling

        return SparseEncoder(modules=[MLMTransformer(str(tiny_splade_dir)), SpladePooling("max")], device="cpu")


def oracle_vectors(oracle, texts: list[str], max_length: int) -> np.ndarray:
    oracle.max_seq_length = max_length
    return oracle.encode(texts, convert_to_tensor=True, batch_size=4).to_dense().cpu().numpy()


def test_queries_match_sentence_transformers(encoder: SpladeEncoder, oracle) -> None:
    expected = oracle_vectors(oracle, QUERIES, 512)
    for text, reference in zip(QUERIES, expected):
        vector = encoder.encode_query(text).vector
        assert vector.dtype == np.float32 and vector.shape == (30522,)
        np.testing.assert_allclose(vector, reference, atol=1e-4, rtol=0)
        assert set(np.flatnonzero(vector)) == set(np.flatnonzero(reference))


def test_documents_match_sentence_transformers(encoder: SpladeEncoder, oracle) -> None:
    expected = oracle_vectors(oracle, DOCUMENTS, 256)  # SpladeEncoder's documents: max_length 256
    matrix = encoder.encode_documents(DOCUMENTS, batch_size=3)
    assert matrix.shape == (len(DOCUMENTS), 30522) and matrix.dtype == np.float32
    dense = matrix.toarray()
    np.testing.assert_allclose(dense, expected, atol=1e-4, rtol=0)
    for row, reference in zip(dense, expected):
        assert set(np.flatnonzero(row)) == set(np.flatnonzero(reference))


def test_the_trained_model_expands_the_query(encoder: SpladeEncoder) -> None:
    encoding = encoder.encode_query("python memory management")
    terms = [t for t, _ in encoding.top_terms(encoder.vocab, 50)]
    assert {"python", "memory", "management"} <= set(terms[:5])
    assert encoding.expansion_nnz > 0  # terms the query does not contain
    assert 0 < encoding.nnz < 1000 and encoding.l1 == pytest.approx(float(encoding.vector.sum()), rel=1e-6)


def test_activations_are_per_position_and_pool_to_the_vector(encoder: SpladeEncoder) -> None:
    encoding = encoder.encode_query("python memory management")
    assert encoding.tokens == ["[CLS]", "python", "memory", "management", "[SEP]"]  # special tokens included
    assert encoding.activations.shape == (5, 30522) and encoding.activations.dtype == np.float32
    assert (encoding.activations >= 0).all()
    np.testing.assert_array_equal(encoding.activations.max(axis=0), encoding.vector)


def test_padding_does_not_change_a_vector(encoder: SpladeEncoder) -> None:
    short = "free unused objects"
    alone = encoder.encode_documents([short]).toarray()[0]
    batched = encoder.encode_documents([DOCUMENTS[0], short, LONG_TEXT, DOCUMENTS[2]], batch_size=4).toarray()[1]
    np.testing.assert_allclose(batched, alone, atol=1e-5, rtol=0)
    assert set(np.flatnonzero(batched)) == set(np.flatnonzero(alone))
    np.testing.assert_allclose(encoder.encode_query(short).vector, alone, atol=1e-5, rtol=0)


def test_rows_come_back_in_input_order(encoder: SpladeEncoder) -> None:
    texts = [DOCUMENTS[1], LONG_TEXT, "", DOCUMENTS[0]]
    matrix = encoder.encode_documents(texts, batch_size=2).toarray()
    for row, text in zip(matrix, texts):
        if text:
            np.testing.assert_allclose(row, encoder.encode_documents([text]).toarray()[0], atol=1e-5, rtol=0)
        else:
            assert not row.any()  # an empty document gets an all-zero vector


def test_truncation_is_recorded(encoder: SpladeEncoder) -> None:
    info = encoder.encode_documents_with_info([DOCUMENTS[0], LONG_TEXT])
    assert info.truncated.tolist() == [False, True]
    assert info.n_tokens[1] > 256 >= info.n_tokens[0]
    document = encoder.encode_document(LONG_TEXT)
    assert document.truncated and document.n_tokens > 256 and len(document.tokens) == 256
    query = encoder.encode_query(LONG_TEXT)  # queries go up to 512 word pieces
    assert len(query.tokens) == min(512, query.n_tokens) and query.truncated == (query.n_tokens > 512)


def test_max_length_is_capped_at_512(loaded: LoadedMLM) -> None:
    assert SpladeEncoder(loaded, max_length=4096).max_length == 512
    with pytest.raises(ValueError):
        SpladeEncoder(loaded, max_length=0)
    with pytest.raises(ValueError, match="fp32, bf16, int8"):
        SpladeEncoder(loaded, precision="fp8")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_empty_query_is_a_clear_error(encoder: SpladeEncoder, text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        encoder.encode_query(text)


def test_progress_reports_every_document(encoder: SpladeEncoder) -> None:
    progress = ProgressRecorder()
    encoder.encode_documents(DOCUMENTS, batch_size=2, progress=progress)
    calls = progress.calls
    assert calls[0][0] == 0 and calls[-1] == (len(DOCUMENTS), len(DOCUMENTS))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    word_pieces = int(np.minimum(encoder.token_lengths(DOCUMENTS), encoder.max_length).sum())  # LONG_TEXT is cut
    assert progress.token_calls[0] == (0, word_pieces) and progress.token_calls[-1] == (word_pieces, word_pieces)
    assert [d for d, _ in progress.token_calls] == sorted(d for d, _ in progress.token_calls)


def test_the_cheap_pooling_order_gives_the_same_weights() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 7, 50) * 3
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    np.testing.assert_array_equal(splade_max_pool_per_text(logits, mask).numpy(), splade_max_pool(logits, mask).numpy())
    # Padding logits never leak in, however large they are.
    logits[1, 4:] = 100.0
    assert splade_max_pool(logits, mask)[1].max() < torch.log1p(torch.tensor(100.0))
    np.testing.assert_array_equal(splade_max_pool_per_text(logits, mask).numpy(), splade_max_pool(logits, mask).numpy())


def test_batches_respect_both_limits() -> None:
    lengths = [256, 256, 200, 100, 100, 50, 10, 10, 10]
    batches = plan_batches(lengths, batch_size=4, max_batch_tokens=512)
    assert [i for b in batches for i in b] == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 4 and len(batch) * lengths[batch[0]] <= 512


def test_shared_terms_sum_to_the_dot_product(encoder: SpladeEncoder) -> None:
    query = encoder.encode_query("free unused objects").vector
    document = encoder.encode_documents([DOCUMENTS[0]]).toarray()[0]
    shares = shared_terms(query, document, encoder.vocab)
    assert shares and all(s.query_weight > 0 and s.doc_weight > 0 for s in shares)
    assert sum(s.contribution for s in shares) == pytest.approx(float(query.astype(np.float64) @ document), rel=1e-6)
    assert [s.contribution for s in shares] == sorted((s.contribution for s in shares), reverse=True)


def test_the_grid_marks_the_position_that_wins_each_term(encoder: SpladeEncoder) -> None:
    encoding = encoder.encode_query("python memory management")
    grid = position_term_grid(encoding, encoder.vocab, 8)
    assert grid.tokens == encoding.tokens and grid.values.shape == (5, 8)
    for column, row in enumerate(grid.winners):
        assert row is not None and grid.values[row, column] == grid.values[:, column].max() == grid.columns[column].weight
    assert [c.term for c in grid.columns][:3] == ["python", "memory", "management"]
    assert all(c.highlighted for c in grid.columns[:3])


def test_hiding_special_tokens_leaves_the_vector_alone(encoder: SpladeEncoder) -> None:
    encoding = encoder.encode_query("cpython refcount management")
    before = encoding.vector.copy()
    grid = position_term_grid(encoding, encoder.vocab, 30, hide_special=True)
    assert "[CLS]" not in grid.tokens and not any(t.startswith("##") for t in grid.tokens)
    assert not any(is_special_or_piece(c.term) for c in grid.columns)
    assert all(not is_special_or_piece(b.term) for b in term_weights(encoding.vector, encoder.vocab, 30, set(), True))
    np.testing.assert_array_equal(encoding.vector, before)
    shown = position_term_grid(encoding, encoder.vocab, 30)
    assert "[CLS]" in shown.tokens and any(t.startswith("##") for t in shown.tokens)


def test_int8_and_bf16_leave_the_shared_model_alone(loaded: LoadedMLM, encoder: SpladeEncoder) -> None:
    reference = encoder.encode_documents(DOCUMENTS[:2]).toarray()
    weights_before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    for precision in ("int8", "bf16"):
        other = SpladeEncoder(loaded, precision=precision)
        assert other.precision in (precision, "fp32")
        vectors = other.encode_documents(DOCUMENTS[:2]).toarray()
        top = [set(np.argsort(-row)[:10]) for row in reference]
        assert all(len(t & set(np.argsort(-row)[:10])) >= 5 for t, row in zip(top, vectors))  # close, not exact
        # Queries use the same model as documents: a query equals the same text encoded alone as a document
        # (alone: int8 scales the activations per batch, so batch-mates move a document's weights a little).
        np.testing.assert_array_equal(other.encode_query(DOCUMENTS[0]).vector, other.encode_document(DOCUMENTS[0]).vector)
    assert any(type(m) is torch.nn.Linear for m in loaded.model.modules())  # not quantised in place
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, weights_before[key]), key


def test_int8_copy_is_what_torch_quantize_dynamic_makes(loaded: LoadedMLM) -> None:
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = torch.ao.quantization.quantize_dynamic(copy.deepcopy(loaded.model), {torch.nn.Linear: qconfig},
                                                           dtype=torch.qint8).eval()
    batch = loaded.tokenizer(["python memory management", DOCUMENTS[1]], padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected, fp32_before = reference(**batch).logits, loaded.model(**batch).logits
        for share_tensors in (True, False):
            assert torch.equal(quantized_copy(loaded.model, share_tensors).eval()(**batch).logits, expected)
        # share_tensors=False gave back the pages of the fp32 weights: read again, from the file, they are unchanged.
        assert torch.equal(loaded.model(**batch).logits, fp32_before)


def test_each_int8_layer_packs_what_from_float_packs(loaded: LoadedMLM) -> None:
    """`dynamic_int8_linear` skips from_float's full-size placeholder, not any of its work on the weights."""
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    layers = [m for m in loaded.model.modules() if type(m) is torch.nn.Linear]
    assert len(layers) > 10  # every encoder layer's four, the head's transform and the vocabulary decoder
    for layer in layers:
        ours = dynamic_int8_linear(layer, qconfig)
        twin = copy.copy(layer)  # the same tensors; the qconfig from_float asks for goes on the copy only
        twin.qconfig = qconfig
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = torch.ao.nn.quantized.dynamic.Linear.from_float(twin)
        (weight, bias), (expected_weight, expected_bias) = ours._weight_bias(), theirs._weight_bias()
        assert torch.equal(weight.int_repr(), expected_weight.int_repr())
        assert torch.equal(weight.q_per_channel_scales(), expected_weight.q_per_channel_scales())
        assert torch.equal(weight.q_per_channel_zero_points(), expected_weight.q_per_channel_zero_points())
        assert torch.equal(bias, expected_bias) and repr(ours) == repr(theirs)


def test_int8_query_is_close_to_fp32_and_differs(encoder: SpladeEncoder, loaded: LoadedMLM) -> None:
    exact = encoder.encode_query("python memory management").vector
    approx = SpladeEncoder(loaded, precision="int8").encode_query("python memory management").vector
    assert not np.array_equal(approx, exact)  # really the quantised model
    heaviest = set(np.argsort(-exact)[:5])
    assert len(heaviest & set(np.argsort(-approx)[:5])) >= 4
    assert np.abs(approx - exact).max() < 0.25 * exact.max()


def test_int8_encoder_that_owns_its_model_keeps_no_fp32_weights(tiny_splade_dir: Path, encoder: SpladeEncoder) -> None:
    private = load_mlm(str(tiny_splade_dir))
    fp32_model = weakref.ref(private.model)
    fp32_embeddings = weakref.ref(private.model.get_input_embeddings().weight)
    shared = SpladeEncoder(private, precision="int8")
    owner = SpladeEncoder(private, precision="int8", owns_model=True)
    del private, shared
    gc.collect()
    assert fp32_model() is None and fp32_embeddings() is None  # released: only the int8 copy is left
    assert not any(type(m) is torch.nn.Linear for m in owner.loaded.model.modules())
    same_copy = SpladeEncoder(encoder.loaded, precision="int8")
    for text in ["python memory management", DOCUMENTS[1]]:
        np.testing.assert_allclose(owner.encode_query(text).vector, same_copy.encode_query(text).vector, atol=1e-6)


def test_bf16_copy_is_what_torch_makes_and_leaves_the_model_alone(loaded: LoadedMLM) -> None:
    reference = copy.deepcopy(loaded.model).to(torch.bfloat16).eval()  # torch's own conversion, the oracle
    batch = loaded.tokenizer(["python memory management", DOCUMENTS[1]], padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected, fp32_before = reference(**batch).logits, loaded.model(**batch).logits
        for share_tensors in (True, False):
            copied = bf16_copy(loaded.model, share_tensors)
            assert {p.dtype for p in copied.parameters()} == {torch.bfloat16}
            assert copied.get_output_embeddings().weight is copied.get_input_embeddings().weight  # still tied
            assert torch.equal(copied(**batch).logits, expected)
        assert torch.equal(loaded.model(**batch).logits, fp32_before)  # fp32, unchanged (pages read back from the file)
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}


def test_pooling_bf16_logits_is_exact() -> None:
    torch.manual_seed(1)
    logits = (torch.randn(3, 9, 40) * 3).to(torch.bfloat16)
    mask = torch.tensor([[1] * 9, [1] * 5 + [0] * 4, [1] + [0] * 8])
    pooled = splade_max_pool_per_text(logits, mask)
    assert pooled.dtype == torch.float32
    assert torch.equal(pooled, splade_max_pool(logits.float(), mask))
    for n in range(1, 10):  # odd and even numbers of positions
        assert torch.equal(max_over_positions(logits[0, :n]), logits[0, :n].amax(dim=0))


@pytest.mark.skipif(not bf16_is_native(), reason="this CPU has no native bf16: the encoder falls back to fp32")
def test_bf16_matches_sentence_transformers_in_bf16(tiny_splade_dir: Path, loaded: LoadedMLM) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers import SparseEncoder
        from sentence_transformers.sparse_encoder.models import MLMTransformer, SpladePooling

        module = MLMTransformer(str(tiny_splade_dir), model_kwargs={"torch_dtype": torch.bfloat16})
        oracle_bf16 = SparseEncoder(modules=[module, SpladePooling("max")], device="cpu")
    expected = oracle_bf16.encode_document(DOCUMENTS[:3], convert_to_tensor=True).to_dense().float().numpy()
    encoder = SpladeEncoder(loaded, precision="bf16")
    assert encoder.precision == "bf16" and encoder.max_batch_tokens == 2048
    vectors = encoder.encode_documents(DOCUMENTS[:3]).toarray()
    np.testing.assert_array_equal(vectors > 0, expected > 0)  # the same terms
    # The same weights up to bf16 rounding: sentence-transformers takes log1p in bf16 (8-bit mantissa), we in fp32.
    np.testing.assert_allclose(vectors, expected, rtol=2 ** -7, atol=2 ** -7)
    owner = SpladeEncoder(load_mlm(str(tiny_splade_dir)), precision="bf16", owns_model=True)
    assert {p.dtype for p in owner.loaded.model.parameters()} == {torch.bfloat16}  # no fp32 copy kept
    np.testing.assert_array_equal(owner.encode_documents(DOCUMENTS[:3]).toarray(), vectors)


def test_cli_encode_prints_sorted_terms_and_nnz(tiny_splade_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
    result = run_cli("encode", "python memory management", "--top-k", "5", "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert set(output) == {"terms", "nnz"} and len(output["terms"]) == 5
    weights = [t["weight"] for t in output["terms"]]
    assert weights == sorted(weights, reverse=True) and output["terms"][0]["term"] == "python"
    assert output["nnz"] >= 5


@pytest.mark.parametrize("args", [["encode", "   "], ["encode", "python", "--top-k", "0"]])
def test_cli_encode_bad_input_is_one_line(args: list[str], tiny_splade_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                         run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
    result = run_cli(*args)  # in this process; robustness/test_cli_bad_input.py runs `encode` as a whole process too
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


@pytest.mark.parametrize("engine", ["x86", "onednn"])
def test_int8_documents_agree_with_sentence_transformers(loaded: LoadedMLM, oracle, engine: str) -> None:
    """Each int8 variant the CPU may run (its default batch size, either quantized engine) against the oracle:
    close to fp32's vectors, not equal (activations are quantised per batch)."""
    if engine not in torch.backends.quantized.supported_engines:
        pytest.skip(f"this torch has no {engine} quantized engine")
    expected = oracle_vectors(oracle, DOCUMENTS, 256)
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        encoder = SpladeEncoder(loaded, precision="int8")
        dense = encoder.encode_documents(DOCUMENTS, batch_size=16).toarray()
    finally:
        torch.backends.quantized.engine = before
    assert encoder.precision == "int8" and not np.array_equal(dense, expected)
    for row, reference in zip(dense[:-1], expected[:-1]):  # the last document, "x", has almost no terms
        assert row @ reference / (np.linalg.norm(row) * np.linalg.norm(reference)) > 0.98
        assert len(set(np.argsort(-row)[:10]) & set(np.argsort(-reference)[:10])) >= 7
