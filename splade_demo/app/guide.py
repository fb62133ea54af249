"""The guided talk mode: a scripted walk through the five pages, one highlighted panel per step.

The script is data (`guide.toml` next to this module); this module only reads it and draws it. A step is opened by
the deep link `?step=N` (1-based) or the home page's start button; Back/Next move through the steps and switch page
when the next step lives on another one. The step's panel is outlined through the CSS class Streamlit gives every
keyed element (`st-key-<key>`), so no page needs code for the guide.
"""

from __future__ import annotations

import html
import tomllib
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from splade_demo.app.pages import PAGES, PageEntry
from splade_demo.app.talk_download import render_talk_download
from splade_demo.config import Settings
from splade_demo.explain.labels import markdown_text

GUIDE_FILE = Path(__file__).with_name("guide.toml")
STEP_KEY = "guide_step"  # session state: the active step (1-based), absent when the guide is off
PENDING_KEY = "guide_switch"  # set when the step changed: go to its page on the next run
URL_SEEN_KEY = "guide_url_step"  # the ?step= value already applied (a reload does not restart the guide)
STEP_PARAM = "step"
HIGHLIGHT_COLOUR = "#E69F00"  # the expansion-term orange (Okabe & Ito)
# ← / → and a clicker's PageUp / PageDown press Back / Next. Constant (nothing is formatted into it); installed once
# per browser tab; it clicks the banner's own buttons, so `?step=N` stays the deep link; keys typed into a text
# field, a select, a slider or an editable element are left alone.
KEYBOARD_JS = """<script>(() => {
  const root = window.parent || window;
  if (root.__spladeGuideKeys) return;
  root.__spladeGuideKeys = true;
  const doc = root.document;
  const ROLES = ["textbox", "combobox", "listbox", "slider", "spinbutton", "grid", "menu"];
  const editing = (el) => {
    for (; el && el.nodeType === 1; el = el.parentElement) {
      if (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName)) return true;
      if (ROLES.includes(el.getAttribute("role"))) return true;
    }
    return false;
  };
  doc.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey || event.defaultPrevented) return;
    if (editing(event.target) || editing(doc.activeElement)) return;
    const key = {ArrowRight: "guide_next", PageDown: "guide_next", ArrowLeft: "guide_back", PageUp: "guide_back"}[event.key];
    const button = key && doc.querySelector(".st-key-" + key + " button");
    if (!button || button.disabled) return;
    event.preventDefault();
    button.click();
  });
})();</script>"""


@dataclass(frozen=True)
class Step:
    number: int
    page: str  # the page script, as in the page registry
    panel: str  # the key of the highlighted element or container
    title: str
    narration: str  # two sentences; "{query}" is the current query

    def text(self, query: str) -> str:
        """The narration for `query`, as Markdown: the query's own Markdown and HTML characters stay literal."""
        return html.escape(self.narration).replace("{query}", markdown_text(query))


def load_steps(path: Path = GUIDE_FILE) -> tuple[Step, ...]:
    """The steps of the talk, numbered from 1; ValueError when a step names an unknown page."""
    with path.open("rb") as handle:
        raw = tomllib.load(handle)["step"]
    known = {p.path for p in PAGES}
    steps = tuple(Step(i, s["page"], s["panel"], s["title"], s["narration"]) for i, s in enumerate(raw, start=1))
    unknown = sorted({s.page for s in steps} - known)
    if unknown:
        raise ValueError(f"the guide names pages that do not exist: {', '.join(unknown)}")
    return steps


STEPS = load_steps()


def _entry(path: str) -> PageEntry:
    return next(p for p in PAGES if p.path == path)


def parse_step(value: object) -> int | None:
    """A step number from the URL, clamped to 1..len(STEPS); None when it is not a number."""
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return min(max(number, 1), len(STEPS))


def active_step() -> Step | None:
    number = st.session_state.get(STEP_KEY)
    return STEPS[number - 1] if isinstance(number, int) and 1 <= number <= len(STEPS) else None


def start_from_url() -> None:
    """Router: a new `?step=N` in the URL opens step N (and its page on this run)."""
    value = st.query_params.get(STEP_PARAM)
    if value is None or value == st.session_state.get(URL_SEEN_KEY):
        return
    st.session_state[URL_SEEN_KEY] = value
    number = parse_step(value)
    if number is not None:
        _go(number)


def _go(number: int) -> None:
    st.session_state[STEP_KEY] = number
    st.session_state[PENDING_KEY] = True


def _stop() -> None:
    for key in (STEP_KEY, PENDING_KEY):
        st.session_state.pop(key, None)
    st.session_state[URL_SEEN_KEY] = None
    if STEP_PARAM in st.query_params:
        del st.query_params[STEP_PARAM]


def follow(current_page: str) -> None:
    """After a step change: switch to the step's page (keeping the query and the step in the URL)."""
    step = active_step()
    if step is None or not st.session_state.pop(PENDING_KEY, False):
        return
    if Path(step.page).name != Path(current_page).name:
        params = {k: v for k, v in st.query_params.to_dict().items()}
        params[STEP_PARAM] = str(step.number)
        st.session_state[URL_SEEN_KEY] = str(step.number)
        st.switch_page(_entry(step.page).script, query_params=params)


def render_guide(current_page: str, query: str, settings: Settings, presenter: bool) -> None:
    """The talk's banner on a page: narration, Back/Next/Exit, and the step's panel outlined; in presenter mode and
    on the last step, the talk's download for `query` under `settings`."""
    follow(current_page)
    step = active_step()
    last = step is not None and step.number == len(STEPS)
    if presenter and not last:
        with st.sidebar:
            render_talk_download(query, settings, key="presenter_talk_download")
    if step is None:
        return
    st.query_params[STEP_PARAM] = str(step.number)
    st.session_state[URL_SEEN_KEY] = str(step.number)
    here = Path(step.page).name == Path(current_page).name
    with st.container(key="guide_banner", border=True):
        st.markdown(f"**🎤 Guided talk · step {step.number} of {len(STEPS)} · {html.escape(step.title)}**")
        st.markdown(step.text(query))
        if not here:
            page = _entry(step.page)
            st.caption(f"This step is on {page.title}.")
        back, forward, go, leave = st.columns(4)
        back.button("◀ Back", key="guide_back", disabled=step.number == 1, on_click=_go, args=(step.number - 1,),
                    width="stretch")
        forward.button("Next ▶", key="guide_next", disabled=step.number == len(STEPS), on_click=_go,
                       args=(step.number + 1,), width="stretch")
        if not here:
            go.button("Go to this step's page", key="guide_go", on_click=_go, args=(step.number,), width="stretch")
        leave.button("End the talk", key="guide_exit", on_click=_stop, width="stretch")
        if last:
            render_talk_download(query, settings, key="guide_talk_download")
    st.html(KEYBOARD_JS, unsafe_allow_javascript=True)
    if here:
        _highlight(step.panel)


def _highlight(panel: str) -> None:
    """Outline the step's panel and scroll it into view (the class is Streamlit's `st-key-<key>`)."""
    css_class = "st-key-" + "".join(c if c.isalnum() or c in "_-" else "-" for c in panel)
    st.html(f"<style>.{css_class} {{outline: 4px solid {HIGHLIGHT_COLOUR}; outline-offset: 6px; "
            f"border-radius: 0.5rem;}}</style>")
    st.html(
        "<script>(() => { let tries = 0; const timer = setInterval(() => {"
        f"const el = window.parent.document.querySelector('.{css_class}') || document.querySelector('.{css_class}');"
        "if (el) { el.scrollIntoView({behavior: 'smooth', block: 'center'}); clearInterval(timer); }"
        "if (++tries > 50) clearInterval(timer); }, 200); })();</script>",
        unsafe_allow_javascript=True,
    )


def render_start() -> None:
    """The home page's button that starts the talk at step 1."""
    if active_step() is None:
        st.button(f"🎤 Start the guided talk ({len(STEPS)} steps)", key="guide_start", on_click=_go, args=(1,))
