"""Hostile and odd queries for the robustness suite (issue 8): (name, text) pairs.

Every page (AppTest) and the CLI must answer each one with its normal output or a clear message:
never a traceback, never the user's HTML rendered raw.
"""

from __future__ import annotations

# The payloads whose raw form must never reach an st.html / markdown element.
SCRIPT_PAYLOAD = "<script>alert(1)</script>"
IMG_PAYLOAD = "<img src=x onerror=alert(1)>"
RAW_HTML_MARKERS: tuple[str, ...] = ("<script>alert(1)", "<img src=x onerror")
# Link and image targets that must never become live Markdown (a link to run, a remote image to fetch).
PIXEL_URL = "https://example.invalid/pixel.png"
LIVE_MARKDOWN_MARKERS: tuple[str, ...] = ("javascript:", "example.invalid")

_DISTINCT_700 = " ".join(f"w{i}x{i * 7919 % 1000}" for i in range(700))  # 700 distinct words, > 512 word pieces

BAD_INPUTS: list[tuple[str, str]] = [
    ("empty", ""),
    ("whitespace only", "   \t  \n  "),
    ("5000 words", " ".join(["memory", "python", "garbage", "collector", "thread"] * 1000)),
    ("over 512 tokens (700 distinct words)", _DISTINCT_700),
    ("single 20000-char word", "a" * 20_000),
    ("emoji only", "🐍🔥💾🧠"),
    ("emoji mixed", "python 🐍 memory 💾 management"),
    ("emoji zwj family", "👨\u200d👩\u200d👧\u200d👦 memory"),
    ("arabic (rtl)", "إدارة الذاكرة في بايثون"),
    ("hebrew (rtl)", "ניהול זיכרון בפייתון"),
    ("rtl override U+202E", "\u202epython memory\u202c management"),
    ("zero-width joiners", "py\u200dthon mem\u200bory\u200c man\ufeffagement"),
    ("nul character", "python\x00memory"),
    ("bell and ansi escape", "\x07\x1b[31mred\x1b[0m memory"),
    ("other control characters", "\x01\x02\x7f\x9b python \x0b\x0c"),
    ("script tag", SCRIPT_PAYLOAD),
    ("img onerror", IMG_PAYLOAD),
    ("html mixed into a query", f"python {SCRIPT_PAYLOAD} memory {IMG_PAYLOAD} management"),
    ("markdown link javascript", "[click](javascript:alert(1))"),
    ("markdown image", f"![pixel]({PIXEL_URL})"),
    ("markdown breaking out of a code span", f"x` [click](javascript:alert(1)) ![pixel]({PIXEL_URL}) `y"),
    ("markdown formatting", "**bold** _x_ `code` # heading > quote"),
    ("latex", "$$x$$ and $\\frac{1}{0}$"),
    ("[MASK]", "[MASK]"),
    ("three [MASK]", "[MASK] [MASK] [MASK]"),
    ("100 [MASK]", " ".join(["[MASK]"] * 100)),
    ("[CLS]", "[CLS]"),
    ("[SEP] [PAD]", "[SEP] [PAD]"),
    ("[UNK]", "[UNK]"),
    ("special tokens mixed", "python [SEP] memory [CLS] management [PAD] [MASK]"),
    ("only stop words", "the of and to"),
    ("only unknown words", "qwxzv blorptf"),
    ("numbers only", "3.14159 42 -7 1e10 0x1F"),
    ("punctuation only", "?!.,;"),
    ("single character", "x"),
    ("single punctuation", "?"),
    ("url", "https://docs.python.org/3/library/gc.html?q=memory&x=<b>#frag"),
    ("sql injection", "'; DROP TABLE passages; -- OR 1=1"),
    ("windows path", "C:\\Users\\admin\\AppData\\python.exe"),
    ("repeated python (long line)", "python " * 3000),
    ("mixed scripts", "内存管理 управление памятью स्मृति प्रबंधन python"),
    ("combining diacritics", "pyt\u0301ho\u0308n me\u0301mo\u0327ry Z\u0336\u0311\u0300a\u0337l\u0338g\u0334o\u0335"),
    ("lone surrogate", "python \ud800 memory"),
    ("lone low surrogate only", "\udfff"),
    ("newlines and tabs", "python\nmemory\tmanagement\r\n"),
    ("format string", "{query} %s %(x)d {0!r}"),
    ("json-like", '{"id": "x", "text": "y"}'),
    ("private use and noncharacters", "\ue000\uffff\U0010fffd memory"),
]

assert len(BAD_INPUTS) >= 40 and len({name for name, _ in BAD_INPUTS}) == len(BAD_INPUTS)


def not_argv(text: str) -> bool:
    """True for inputs a real command line cannot carry: a NUL byte ends a C string, and a lone
    surrogate cannot be encoded to bytes (subprocess raises before the program starts)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
