"""The talk's steps, read from the guide's script (`splade_demo/app/guide.toml`, data only) without Streamlit."""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

GUIDE_FILE = Path(__file__).resolve().parent.parent / "app" / "guide.toml"


@dataclass(frozen=True)
class TalkStep:
    """One step of the guided talk: the page script, the key of its panel, the title and the narration."""

    number: int
    page: str
    panel: str
    title: str
    narration: str  # "{query}" is the current query

    @property
    def page_number(self) -> str:
        """The article section the step belongs to ("1".."5"), from its page script (`views/p1_bm25.py`)."""
        found = re.search(r"/p(\d+)_", self.page)
        return found.group(1) if found else ""

    def narration_html(self, query: str) -> str:
        """The narration as HTML text: the narration and the query escaped, so the query shows as typed."""
        return html.escape(self.narration).replace("{query}", html.escape(query))


def talk_steps(path: Path = GUIDE_FILE) -> tuple[TalkStep, ...]:
    """The steps in talk order, numbered from 1 (the same file `app/guide.py` reads)."""
    with path.open("rb") as handle:
        raw = tomllib.load(handle)["step"]
    return tuple(TalkStep(i, s["page"], s["panel"], s["title"], s["narration"]) for i, s in enumerate(raw, start=1))
