"""The talk as one self-contained HTML page: Plotly's JS inlined once, every text escaped, no network at all.

A Content-Security-Policy allows no request of any kind (`default-src 'none'`) and only the page's own scripts
(by their SHA-256), so even a markup slip in corpus or query text could neither load nor run anything. Keys:
← / → and PageUp / PageDown (what presentation clickers send) move a step, Home / End go to the first / last
step; each step is the anchor `#step-N`. Printing gives one step per page.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.offline

from splade_demo.talk.panels import Panel, Table
from splade_demo.talk.steps import TalkStep

FIGURE_CONFIG = {"displaylogo": False, "responsive": True}
# Plotly's own template, named: a Streamlit process swaps the default for one of colour placeholders its front end
# fills in, which would otherwise leak into the file (and make the app's bytes differ from the CLI's).
FIGURE_TEMPLATE = "plotly"
SCRIPT = re.compile(r"<script[^>]*>(.*?)</script>", re.DOTALL)

# Constant: no value is ever formatted into it.
NAVIGATION_JS = """(() => {
  const steps = Array.from(document.querySelectorAll("section.step"));
  const typing = (el) => !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  const current = () => {
    let seen = 0;
    for (const s of steps) {
      if (s.getBoundingClientRect().top <= window.innerHeight * 0.4) seen = Number(s.dataset.step);
    }
    return seen;
  };
  const go = (n) => {
    const number = Math.min(Math.max(n, 1), steps.length);
    const target = document.getElementById("step-" + number);
    if (location.hash === "#step-" + number) target.scrollIntoView();
    else location.hash = "#step-" + number;
  };
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
    const moves = {ArrowRight: 1, PageDown: 1, ArrowLeft: -1, PageUp: -1};
    if (event.key in moves) go(current() + moves[event.key]);
    else if (event.key === "Home") go(1);
    else if (event.key === "End") go(steps.length);
    else return;
    event.preventDefault();
  });
})();"""

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1a1a1a;
       font-size: 20px; line-height: 1.45; }
header, section.step { max-width: 1200px; margin: 0 auto; padding: 1.2rem 2rem; box-sizing: border-box; }
header { border-bottom: 2px solid #E69F00; }
header dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; font-size: 0.85em; }
header dt { font-weight: 600; }
header dd { margin: 0; }
section.step { min-height: 100vh; border-bottom: 1px solid #ddd; }
.step-number { color: #666; font-size: 0.85em; margin: 0; }
h2 { margin: 0.2rem 0 0.6rem; }
.narration { font-size: 1.05em; }
.missing { border-left: 6px solid #D55E00; background: #fff4ec; padding: 0.6rem 1rem; }
.note { color: #333; font-size: 0.9em; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.8em; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
pre.formula { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; font-size: 0.75em; }
nav.step-nav { margin-top: 1rem; font-size: 0.85em; }
nav.step-nav a { margin-right: 1.5rem; }
@media print {
  body { font-size: 12pt; }
  header { break-after: page; }
  section.step { min-height: 0; break-after: page; page-break-after: always; border: none; }
  nav.step-nav { display: none; }
}
"""


@dataclass(frozen=True)
class Header:
    """What the talk was made from, so a slide never claims what the live app would not show."""

    query: str
    rows: tuple[tuple[str, str], ...]  # (label, value): models with commits, corpus, precision...
    exported: str  # the date line, e.g. "2026-12-02 17:05 UTC"


@dataclass(frozen=True)
class Section:
    """One step: its panel, or the reason it is left out."""

    step: TalkStep
    panel: Panel | None
    missing: str = ""


def text(value: object) -> str:
    """Corpus, model or user text as HTML text (the escaping of the pages' `st.html`: `html.escape`)."""
    return html.escape(str(value), quote=True)


def figure_html(figure: go.Figure, div_id: str) -> str:
    """Plotly's own HTML for one figure, without its JS (inlined once per page); the id keeps the bytes stable."""
    figure = go.Figure(figure).update_layout(template=FIGURE_TEMPLATE)
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=FIGURE_CONFIG)


def table_html(table: Table) -> str:
    head = "".join(f"<th>{text(c)}</th>" for c in table.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{text(cell)}</td>" for cell in row) + "</tr>" for row in table.rows)
    return (f"<table><caption>{text(table.caption)}</caption>\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{body}\n</tbody></table>")


def section_html(section: Section, total: int, query: str) -> str:
    step = section.step
    n = step.number
    parts = [f'<section class="step" id="step-{n}" data-step="{n}">',
             f'<p class="step-number">Step {n} of {total} · page {text(step.page_number)}</p>',
             f"<h2>{text(step.title)}</h2>",
             f'<p class="narration">{step.narration_html(query)}</p>']
    panel = section.panel
    if panel is None:
        parts.append(f'<p class="missing">Left out of this export: {text(section.missing)}.</p>')
    else:
        if panel.figure is not None:
            parts.append(f'<div class="figure">{figure_html(panel.figure, f"figure-{n}")}</div>')
        parts += [f'<p class="note">{text(note)}</p>' for note in panel.notes]
        if panel.formula:
            parts.append(f'<pre class="formula">{text(panel.formula)}</pre>')
        parts += [table_html(t) for t in panel.tables if t.rows]
    links = ([f'<a href="#step-{n - 1}">← Back</a>'] if n > 1 else []) + \
        ([f'<a href="#step-{n + 1}">Next →</a>'] if n < total else [])
    parts.append(f'<nav class="step-nav">{" ".join(links)}</nav>')
    parts.append("</section>")
    return "\n".join(parts)


def _hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def document(header: Header, sections: list[Section]) -> str:
    """The whole page. The date is on a line of its own (`<p class="exported">`), the only line that changes
    between two exports of the same query and settings."""
    body = "\n".join(section_html(s, len(sections), header.query) for s in sections)
    plotly_js = plotly.offline.get_plotlyjs()
    scripts = [plotly_js, NAVIGATION_JS, *SCRIPT.findall(body)]
    policy = ("default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; "
              f"script-src {' '.join(dict.fromkeys(_hash(s) for s in scripts))}")
    rows = "\n".join(f"<dt>{text(label)}</dt><dd>{text(value)}</dd>" for label, value in header.rows)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Why SPLADE works: {text(header.query)}</title>",
        f"<style>{STYLE}</style>",
        f"<script>{plotly_js}</script>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Why SPLADE works: the guided talk</h1>",
        f'<p class="query">Query: <strong>{text(header.query)}</strong></p>',
        f"<dl>\n{rows}\n</dl>",
        f'<p class="exported">Exported {text(header.exported)}</p>',
        "<p>← / → or PageUp / PageDown: previous / next step · Home / End: first / last step.</p>",
        "</header>",
        body,
        f"<script>{NAVIGATION_JS}</script>",
        "</body>",
        "</html>",
        "",
    ])
