"""Words every page shares: the relevance grades' labels and Markdown escaping (each written once, here)."""

from __future__ import annotations

import re

GRADE_NAMES = {2: "answers it", 1: "helps"}  # DESIGN.md: 2 = answers the query, 1 = helps
GRADE_MARKS = {2: "✅ answers", 1: "☑️ helps"}  # the same grades in a ranking table's "relevant" column
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~=$:&])")


def grade_name(grade: int | None) -> str:
    """`answers it`, `helps`, or the number for any other grade ("" for none)."""
    return GRADE_NAMES.get(grade or 0, str(grade) if grade else "")


def grade_mark(grade: int | None) -> str:
    """`✅ answers`, `☑️ helps`, or "" (not labelled relevant)."""
    return GRADE_MARKS.get(grade or 0, "")


def markdown_text(text: str) -> str:
    """`text` for st.markdown as literal characters, whitespace collapsed: no link, image, emphasis or HTML from a
    corpus title, a query or a setting (every character Markdown or HTML would act on is backslash-escaped)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))
