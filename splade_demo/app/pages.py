"""The page registry: one entry per page, read by app.py (navigation), the home page and the cross-links."""

from __future__ import annotations

from dataclasses import dataclass

from splade_demo.config import REPO_ROOT


@dataclass(frozen=True)
class PageEntry:
    """One page of the dashboard."""

    path: str  # the script, relative to the repository root
    title: str  # in the navigation, and the label of links to the page
    icon: str
    url_path: str | None  # None: the default page, at "/"
    blurb: str  # the home page's one line about it

    @property
    def script(self) -> str:
        """The script's absolute path: what st.Page and st.page_link get, so an entrypoint in another folder
        (deploy/streamlit_app.py) finds the pages too (Streamlit resolves relative paths against the entrypoint)."""
        return str(REPO_ROOT / self.path)


HOME = PageEntry("views/home.py", "Why SPLADE works", "🏠", None, "The thesis in a few sentences.")
PAGES: tuple[PageEntry, ...] = (
    HOME,
    PageEntry("views/p1_bm25.py", "1 · What BM25 misses", "🔍", "bm25",
              "BM25 over real Python docs, and the relevant pages it never reaches."),
    PageEntry("views/p2_glove.py", "2 · Static expansion (GloVe)", "🧭", "glove",
              "GloVe neighbours expand the query, without context."),
    PageEntry("views/p3_bert.py", "3 · Contextual predictions (BERT)", "🧠", "bert",
              "BERT's masked-token predictions understand the context."),
    PageEntry("views/p4_splade.py", "4 · SPLADE vectors", "🧮", "splade",
              "SPLADE turns those logits into a sparse term-weight vector."),
    PageEntry("views/p5_compare.py", "5 · BM25 vs SPLADE", "⚖️", "compare",
              "BM25 and SPLADE side by side, with metrics over labelled queries."),
)
ARTICLE: tuple[PageEntry, ...] = PAGES[1:]  # the five sections, in reading order


def page(path: str) -> PageEntry:
    """The entry of the page script at `path`."""
    return next(p for p in PAGES if p.path == path)


def next_page(path: str) -> PageEntry | None:
    """The page after `path` in reading order (None after the last)."""
    index = PAGES.index(page(path))
    return PAGES[index + 1] if index + 1 < len(PAGES) else None
