"""Term provenance (which position won each term's max) and own-word ranks under a mask, against brute force."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from splade_demo.explain.provenance import own_word_ranks, term_provenance, terms_by_position, word_at
from splade_demo.explain.fill_mask import predict
from splade_demo.models.loading import LoadedMLM
from splade_demo.retrieval.splade_encoder import SpladeEncoder

TEXTS = ("python memory management", "the reticulated python swallowed a goat at the zoo")


def brute_force_winners(loaded: LoadedMLM, text: str) -> tuple[list[str], np.ndarray]:
    """Word pieces and log(1 + ReLU(logits)) per position, straight from the model (no padding)."""
    batch = loaded.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        logits = loaded.model(**batch).logits[0].double()  # (seq, vocab)
    return loaded.tokenizer.convert_ids_to_tokens(batch["input_ids"][0]), torch.log1p(torch.relu(logits)).numpy()


@pytest.mark.parametrize("text", TEXTS)
def test_each_term_names_the_position_whose_logit_won_the_max(loaded: LoadedMLM, encoder: SpladeEncoder,
                                                              text: str) -> None:
    tokens, activations = brute_force_winners(loaded, text)
    origins = term_provenance(encoder.encode_query(text), encoder.vocab)
    pooled = activations.max(axis=0)
    assert {o.term_id for o in origins} == set(np.flatnonzero(pooled > 0))
    for o in origins:
        column = activations[:, o.term_id]
        assert column[o.position] == pytest.approx(column.max(), rel=1e-5)
        assert o.weight == pytest.approx(column.max(), rel=1e-5)
        if np.sort(column)[-2] < column.max() * (1 - 1e-4):  # a clear winner: the same position
            assert o.position == int(np.argmax(column))
        assert (o.piece, o.term) == (tokens[o.position], encoder.vocab[o.term_id])
    grouped = terms_by_position(origins)
    assert sorted(o.term_id for group in grouped.values() for o in group) == sorted(o.term_id for o in origins)
    assert all(o.position == p for p, group in grouped.items() for o in group) and list(grouped) == sorted(grouped)
    assert [o.term_id for o in term_provenance(encoder.encode_query(text), encoder.vocab, n=5)] == \
           [o.term_id for o in origins[:5]]


def test_word_at_joins_the_pieces_of_a_word() -> None:
    tokens = ["[CLS]", "re", "##tic", "##ulated", "python", "[SEP]"]
    assert [word_at(tokens, i) for i in range(6)] == ["[CLS]", "reticulated", "reticulated", "reticulated",
                                                      "python", "[SEP]"]


@pytest.mark.parametrize("text", TEXTS)
def test_own_word_rank_and_probability_equal_a_brute_force_softmax(loaded: LoadedMLM, text: str) -> None:
    tokenizer = loaded.tokenizer
    encoding = tokenizer(text)
    ids, word_ids = encoding["input_ids"], encoding.word_ids()
    ranks = own_word_ranks(loaded, text)
    assert [r.position for r in ranks] == sorted({w for w in word_ids if w is not None})
    for r in ranks:
        span = [i for i, w in enumerate(word_ids) if w == r.position]
        masked = [*ids[: span[0]], tokenizer.mask_token_id, *ids[span[-1] + 1:]]
        with torch.inference_mode():
            logits = loaded.model(input_ids=torch.tensor([masked])).logits[0, span[0]].double()
        own = ids[span[0]]
        assert (r.token, r.pieces) == (tokenizer.convert_ids_to_tokens(own), len(span))
        assert r.rank == 1 + int((logits > logits[own]).sum())
        assert r.probability == pytest.approx(float(torch.softmax(logits, -1)[own]), rel=1e-4)
    predicted = predict(loaded, text, k=10)  # the same numbers fill-mask shows, where the word is in its top 10
    for r, masked in zip(ranks, predicted.positions):
        assert masked.position == r.position
        if r.rank <= 10 and r.pieces == 1:
            assert masked.predictions[r.rank - 1].token == r.token
            assert masked.predictions[r.rank - 1].probability == pytest.approx(r.probability, rel=1e-6)
    first_two = own_word_ranks(loaded, text, max_words=2)  # a smaller batch: equal up to float rounding
    assert [(r.position, r.token, r.rank) for r in first_two] == [(r.position, r.token, r.rank) for r in ranks[:2]]
    assert [r.probability for r in first_two] == pytest.approx([r.probability for r in ranks[:2]], rel=1e-5)
    assert own_word_ranks(loaded, "  ") == []
