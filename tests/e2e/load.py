"""Many visitors at once against one real server: concurrent headless Chromium sessions walking the five pages.

Shared by the slow load test (tests/e2e/test_load.py) and benchmarks/bench_load.py. One Chromium (Debian's,
never a downloaded one) holds one browser context per session: separate cookies and websocket, so each is its
own Streamlit session. A session opens `/bm25?q=<its query>`, then clicks the sidebar links to pages 2-5; a page
is complete when its title has changed, the script has finished and every chart is drawn. It records each page's
time, errors (exceptions, error boxes, timeouts, page crashes) and the main area's text (for equality with a
single-session run). The server's own time per script run comes from tests/e2e/timed_streamlit.py.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import hashlib
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS

WALK = ("bm25", "glove", "bert", "splade", "compare")
SKELETONS = '[data-testid="stSkeleton"], [data-testid="stSkeletonElement"], [data-testid="stAppSkeleton"]'
# JavaScript statements that return false while the app's script runs or widgets are still loading.
SCRIPT_RUNNING_GUARD = """
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  if (document.querySelector('%s')) return false;""" % SKELETONS.replace("'", "\\'")
# True once a page other than `previous` is shown, its script has finished and every chart is drawn.
COMPLETE_JS = """
(previous) => {%s
  const h = document.querySelector('[data-testid="stMain"] h1');
  if (!h || h.innerText.trim() === previous) return false;
  return Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'))
    .every(c => c.querySelector('.main-svg') !== null);
}
""" % SCRIPT_RUNNING_GUARD
ERRORS_JS = """
() => Array.from(document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]'))
  .map(e => e.innerText.slice(0, 300))
"""
MAIN_TEXT_JS = """
() => { const m = document.querySelector('[data-testid="stMain"]'); return m ? m.innerText : ''; }
"""


@dataclass
class PageVisit:
    page: str
    seconds: float
    errors: list[str]
    digest: str  # sha256 of the main area's text (queue notices left out)
    text: str = field(repr=False, default="")


@dataclass
class SessionRun:
    query: str
    visits: list[PageVisit] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # outside a page: a crash, a console error


def labelled_queries(n: int, path: Path) -> list[str]:
    """The first `n` labelled queries' texts (corpus/queries.jsonl), each session its own."""
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if n > len(texts):
        raise ValueError(f"{n} sessions but only {len(texts)} labelled queries")
    return texts[:n]


def _digest(text: str) -> str:
    kept = "\n".join(line for line in text.splitlines() if "Queued behind" not in line)
    return hashlib.sha256(kept.encode()).hexdigest()[:16]


async def _complete(page, previous: str | None, timeout_s: float) -> str:
    await page.wait_for_function(COMPLETE_JS, arg=previous or "", timeout=timeout_s * 1000, polling=100)
    return await page.evaluate("() => document.querySelector('[data-testid=\"stMain\"] h1').innerText.trim()")


async def walk(browser, url: str, query: str, timeout_s: float, keep_text: bool = False) -> SessionRun:
    """One visitor: page 1 opened with the query in the URL, then pages 2-5 through the sidebar links."""
    run = SessionRun(query)
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.on("pageerror", lambda exc: run.errors.append(f"page error: {exc}"))
    page.on("crash", lambda _: run.errors.append("the page crashed"))
    title: str | None = None
    try:
        for name in WALK:
            started = time.perf_counter()
            try:
                if title is None:
                    await page.goto(f"{url}/{name}?q={quote(query, safe='')}", wait_until="commit")
                else:
                    await page.locator(f'[data-testid="stSidebarNav"] a[href$="/{name}"]').first.click()
                title = await _complete(page, title, timeout_s)
            except Exception as exc:  # a timeout or a closed page: an error of this visit, the walk ends
                run.visits.append(PageVisit(name, time.perf_counter() - started, [f"{type(exc).__name__}: {exc}"[:300]], ""))
                break
            seconds = time.perf_counter() - started
            text = await page.evaluate(MAIN_TEXT_JS)
            run.visits.append(PageVisit(name, seconds, await page.evaluate(ERRORS_JS), _digest(text),
                                        text if keep_text else ""))
    finally:
        await context.close()
    return run


async def _sessions(url: str, queries: list[str], concurrent: bool, timeout_s: float) -> list[SessionRun]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                   args=[*CHROMIUM_ARGS, "--disable-quic", "--no-first-run"])
        try:
            if concurrent:
                return list(await asyncio.gather(*(walk(browser, url, q, timeout_s) for q in queries)))
            return [await walk(browser, url, q, timeout_s, keep_text=True) for q in queries]
        finally:
            await browser.close()


def run_sessions(url: str, queries: list[str], concurrent: bool, timeout_s: float = 600) -> list[SessionRun]:
    """Each query walked by its own session: all at once (`concurrent`) or one after another."""
    # In its own thread: a caller's thread may already run an event loop (pytest-playwright's sync API does).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _sessions(url, queries, concurrent, timeout_s)).result()


def errors_of(runs: list[SessionRun]) -> list[str]:
    found = [f"{r.query!r}: {e}" for r in runs for e in r.errors]
    found += [f"{r.query!r} {v.page}: {e}" for r in runs for v in r.visits for e in v.errors]
    found += [f"{r.query!r}: walked {len(r.visits)} of {len(WALK)} pages" for r in runs if len(r.visits) < len(WALK)]
    return found


def mismatches(runs: list[SessionRun], baseline: list[SessionRun]) -> list[str]:
    """Pages whose main text differs from the same query's single-session run."""
    alone = {(r.query, v.page): v.digest for r in baseline for v in r.visits}
    return [f"{r.query!r} {v.page}" for r in runs for v in r.visits if alone.get((r.query, v.page)) != v.digest]


def page_times(runs: list[SessionRun]) -> list[float]:
    return [v.seconds for r in runs for v in r.visits if not v.errors]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float]) -> str:
    if not values:
        return "no values"
    return (f"p50 {statistics.median(values):.2f} s, p95 {percentile(values, 95):.2f} s, "
            f"max {max(values):.2f} s (n={len(values)})")


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size (VmHWM in /proc/PID/status; 0 where there is no /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def script_run_times(log: Path) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each server script run so far, from timed_streamlit's log."""
    if not log.is_file():
        return []
    return [(float(a), float(b)) for a, b in (line.split() for line in log.read_text().splitlines() if line.strip())]
