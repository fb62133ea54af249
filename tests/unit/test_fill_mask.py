"""Fill-mask against the independent oracle `transformers.pipeline("fill-mask")` on the same weights:
the real tiny SPLADE (a fine-tuned MLM head) and a tiny random BERT."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, pipeline

from splade_demo.explain.fill_mask import (
    MAX_TOKENS,
    ExpansionTerm,
    FillMaskResult,
    MaskedPosition,
    Prediction,
    expansion_union,
    predict,
    predict_word,
    query_tokens,
    words,
)
from splade_demo.models.loading import LoadedMLM, load_mlm

TOLERANCE = 1e-5
K = 5


@pytest.fixture(scope="module")
def tiny_random_bert_dir(tiny_splade_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_random_bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    BertForMaskedLM(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_splade_dir).save_pretrained(folder)
    assert (folder / "model.safetensors").is_file()
    return folder


@pytest.fixture(scope="module", params=["tiny_splade", "tiny_random_bert"])
def model_dir(request: pytest.FixtureRequest, tiny_splade_dir: Path, tiny_random_bert_dir: Path) -> Path:
    return tiny_splade_dir if request.param == "tiny_splade" else tiny_random_bert_dir


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> LoadedMLM:
    return load_mlm(str(model_dir))


@pytest.fixture(scope="module")
def oracle(model_dir: Path):
    """The pipeline loads its own copy of the weights from the same folder."""
    return pipeline("fill-mask", model=str(model_dir))


def assert_same(predictions: list[Prediction], expected: list[dict]) -> None:
    assert [p.token for p in predictions] == [e["token_str"] for e in expected]
    for p, e in zip(predictions, expected):
        assert p.probability == pytest.approx(e["score"], abs=TOLERANCE)


@pytest.mark.parametrize("text", ["python memory management", "the python swallowed a rabbit whole"])
def test_each_word_matches_the_pipeline_on_the_masked_sentence(loaded: LoadedMLM, oracle, text: str) -> None:
    result = predict(loaded, text, k=K)
    split = text.split()
    assert [(m.position, m.word) for m in result.positions] == list(enumerate(split))
    assert not result.truncated
    assert result.n_tokens == len(loaded.tokenizer(text)["input_ids"])
    for masked in result.positions:
        masked_text = " ".join("[MASK]" if i == masked.position else w for i, w in enumerate(split))
        assert_same(masked.predictions, oracle(masked_text, top_k=K))


def test_a_multi_piece_word_becomes_one_mask(loaded: LoadedMLM, oracle) -> None:
    text = "pyobject allocation in cpython"
    assert len(loaded.tokenizer.tokenize("pyobject")) > 1 and len(loaded.tokenizer.tokenize("cpython")) > 1
    result = predict(loaded, text, k=K)
    assert [m.word for m in result.positions] == text.split()
    assert_same(result.positions[0].predictions, oracle("[MASK] allocation in cpython", top_k=K))
    assert_same(result.positions[3].predictions, oracle("pyobject allocation in [MASK]", top_k=K))


def test_words_keep_their_original_spelling(loaded: LoadedMLM) -> None:
    result = predict(loaded, "Python PyObject", k=2)
    assert [m.word for m in result.positions] == ["Python", "PyObject"]


def test_punctuation_is_context_not_masked(loaded: LoadedMLM, oracle) -> None:
    result = predict(loaded, "json.loads() error", k=K)
    # BERT's words: json . loads ( ) error -> positions count them all, only real words are masked
    assert [(m.position, m.word) for m in result.positions] == [(0, "json"), (2, "loads"), (5, "error")]
    assert_same(result.positions[1].predictions, oracle("json.[MASK]() error", top_k=K))
    assert predict(loaded, "?! ...", k=K).positions == []


def test_explicit_masks_are_predicted_in_one_pass(loaded: LoadedMLM, oracle) -> None:
    result = predict(loaded, "python [MASK] management [MASK]", k=K)
    assert [(m.position, m.word) for m in result.positions] == [(1, "[MASK]"), (3, "[MASK]")]
    expected = oracle("python [MASK] management [MASK]", top_k=K)
    for masked, rows in zip(result.positions, expected):
        assert_same(masked.predictions, rows)
    single = predict(loaded, "the [MASK] swallowed a rabbit", k=K)
    assert len(single.positions) == 1
    assert_same(single.positions[0].predictions, oracle("the [MASK] swallowed a rabbit", top_k=K))


def test_over_long_input_is_truncated_with_a_flag(loaded: LoadedMLM, oracle) -> None:
    text = " ".join(["cat"] * (MAX_TOKENS - 3) + ["dog"] + ["cat"] * 100)  # dog is the last word that fits
    result = predict(loaded, text, k=3, max_words=4)
    assert result.truncated and result.n_tokens == (MAX_TOKENS - 3) + 1 + 100 + 2
    assert [m.position for m in result.positions] == [0, 1, 2, 3]
    kept = words(loaded, text)
    assert len(kept) == MAX_TOKENS - 2 and kept[-1].text == "dog"
    dog = predict_word(loaded, text, "dog", k=3)
    assert dog is not None and dog.position == MAX_TOKENS - 3
    masked_text = " ".join(["cat"] * (MAX_TOKENS - 3) + ["[MASK]"] + ["cat"] * 100)
    assert_same(dog.predictions, oracle(masked_text, top_k=3, tokenizer_kwargs={"truncation": True}))


def test_mask_each_word_on_over_long_input(tiny_random_bert_dir: Path) -> None:
    """All the words that fit are masked, batched in several forward passes (tiny model: fast)."""
    loaded = load_mlm(str(tiny_random_bert_dir))
    text = " ".join(["pyobject ..."] * 100)  # 7 tokens and 4 words (3 of them punctuation) per group
    assert loaded.tokenizer.tokenize("pyobject ...") == ["p", "##yo", "##b", "##ject", ".", ".", "."]
    result = predict(loaded, text, k=2)
    assert result.truncated and result.n_tokens == 702
    fitting = (MAX_TOKENS - 2) // 7 + 1  # 72 whole groups, then a whole pyobject in the last 6 tokens
    assert [m.position for m in result.positions] == [4 * i for i in range(fitting)]
    assert {m.word for m in result.positions} == {"pyobject"}


def test_a_word_cut_by_truncation_is_not_masked(loaded: LoadedMLM) -> None:
    text = " ".join(["cat"] * (MAX_TOKENS - 3) + ["pyobject"])  # pyobject's pieces straddle the limit
    assert len(loaded.tokenizer.tokenize("pyobject")) > 1
    kept = words(loaded, text)
    assert [w.text for w in kept] == ["cat"] * (MAX_TOKENS - 3)
    assert predict_word(loaded, text, "pyobject") is None


def test_explicit_mask_past_the_limit_is_dropped(loaded: LoadedMLM) -> None:
    result = predict(loaded, " ".join(["cat"] * 600 + ["[MASK]"]), k=2)
    assert result.truncated and result.positions == []


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_input_gives_no_positions(loaded: LoadedMLM, text: str) -> None:
    assert predict(loaded, text) == FillMaskResult([], False, 0)
    assert predict_word(loaded, text, "python") is None
    assert words(loaded, text) == [] and query_tokens(loaded, text) == set()


def test_k_is_checked_and_capped(loaded: LoadedMLM) -> None:
    with pytest.raises(ValueError):
        predict(loaded, "python", k=0)
    result = predict(loaded, "python", k=40_000)
    probabilities = [p.probability for p in result.positions[0].predictions]
    assert len(probabilities) == 30522
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)  # softmax over the whole vocabulary
    assert probabilities == sorted(probabilities, reverse=True)


def test_max_words_masks_the_first_words(loaded: LoadedMLM) -> None:
    full = predict(loaded, "a b c d e", k=3)
    capped = predict(loaded, "a b c d e", k=3, max_words=2)
    assert [(m.position, m.word) for m in capped.positions] == [(0, "a"), (1, "b")]
    assert (capped.words_left_out, full.words_left_out) == (3, 0)
    assert predict(loaded, "a [MASK] c d", k=3, max_words=1).words_left_out == 0  # explicit masks: all predicted
    for a, b in zip(capped.positions, full.positions):
        assert [p.probability for p in a.predictions] == pytest.approx([p.probability for p in b.predictions], abs=TOLERANCE)


def test_batched_equals_one_forward_per_word(loaded: LoadedMLM) -> None:
    text = "python pyobject memory management"
    batched = predict(loaded, text, k=K)
    looped = predict(loaded, text, k=K, batched=False)
    for a, b in zip(batched.positions, looped.positions, strict=True):
        assert [p.token for p in a.predictions] == [p.token for p in b.predictions]
        assert [p.probability for p in a.predictions] == pytest.approx([p.probability for p in b.predictions], abs=TOLERANCE)


def test_predict_word_finds_the_word_in_each_context(loaded: LoadedMLM, oracle) -> None:
    zoo = predict_word(loaded, "The Python swallowed a rabbit whole", "python", k=K)
    assert zoo is not None and (zoo.position, zoo.word) == (1, "Python")
    assert_same(zoo.predictions, oracle("The [MASK] swallowed a rabbit whole", top_k=K))
    code = predict_word(loaded, "python memory management", "PYTHON", k=K)
    assert code is not None and code.position == 0
    assert predict_word(loaded, "a rabbit", "python") is None


def test_the_shared_model_is_left_alone_and_the_lock_is_held(loaded: LoadedMLM) -> None:
    assert not loaded.model.training
    done = threading.Event()
    with loaded.lock:
        worker = threading.Thread(target=lambda: (predict(loaded, "python memory", k=2), done.set()))
        worker.start()
        assert not done.wait(0.3)  # waits for the lock
    worker.join(30)
    assert done.is_set()
    assert not loaded.model.training


def test_query_tokens_are_the_word_pieces(loaded: LoadedMLM) -> None:
    assert query_tokens(loaded, "Python PyObject") == {"python", *loaded.tokenizer.tokenize("pyobject")}


def test_expansion_union_keeps_the_best_probability_and_marks_query_tokens() -> None:
    result = FillMaskResult(
        [
            MaskedPosition(0, "python", [Prediction("java", 0.4), Prediction("python", 0.2), Prediction("the", 0.1)]),
            MaskedPosition(1, "memory", [Prediction("heap", 0.3), Prediction("java", 0.05), Prediction("the", 0.2)]),
        ],
        truncated=False,
        n_tokens=4,
    )
    union = expansion_union(result, {"python", "memory"})
    assert union == [
        ExpansionTerm("java", 0.4, ("python", "memory"), False),
        ExpansionTerm("heap", 0.3, ("memory",), False),
        ExpansionTerm("python", 0.2, ("python",), True),
        ExpansionTerm("the", 0.2, ("python", "memory"), False),
    ]
    assert expansion_union(FillMaskResult([], False, 0), {"python"}) == []


def test_figures_escape_words_and_tokens() -> None:
    from splade_demo.figures.bert import expansion_bars, prediction_bars, prediction_grid, static_vs_contextual
    from splade_demo.retrieval.neighbours import Neighbour

    masked = MaskedPosition(0, "<b>x</b>", [Prediction("<i>", 0.5), Prediction("&", 0.25)])
    result = FillMaskResult([masked], False, 3)
    figures = [
        prediction_bars(masked, {"&"}),
        prediction_grid(result),
        static_vs_contextual("<b>x</b>", [("<a>", masked), ("b", None)], [Neighbour("<s>", 0.9)]),
        expansion_bars(expansion_union(result, {"&"})),
    ]
    for fig in figures:
        spec = fig.to_json()
        assert "<b>x" not in spec and "<i>" not in spec and "<s>" not in spec and "<a>" not in spec
        assert "&lt;" in spec
