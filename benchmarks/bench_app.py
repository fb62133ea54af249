"""App start and page switches in a real browser (Debian's Chromium, driven by Playwright).

    python benchmarks/bench_app.py                   # tiny SPLADE as both models; about 1-2 minutes
    python benchmarks/bench_app.py --models bert-base  # random-init BERT-base folders (real models' cost)

1. Start: `streamlit run app.py` (headless, a free loopback port, offline) with Chromium already
   open; the clock runs from launching the server until the home page has rendered (its title is
   shown, the script has finished: no `stStatusWidget`, `data-test-script-state="notRunning"`).
   Target < 5 s. Printed apart: when /_stcore/health first answered.
2. Page switches after a warm-up (every page visited once: models loaded, caches filled): click each
   sidebar link in turn, `--cycles` times round, and time until the new page's title is shown and the
   script has finished. Timed inside the browser (performance.now() from the click event to the DOM
   mutation that completes the page), so Playwright's own round trips are not counted. Target < 1 s.

The SPLADE `demo` index is put in the app's cache folder (under the bench folder) before the server
starts, so no run waits for an index build: with `--models tiny` it is built with the tiny SPLADE;
with `--models bert-base` the tiny model's vectors are saved under the BERT-base model's key (same
shape; a random BERT-base would take minutes to encode `demo` and give random terms).
Chromium is /usr/bin/chromium, never a downloaded browser.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

import _common as common

from tests.e2e import server as launcher
from tests.e2e.load import SCRIPT_RUNNING_GUARD

CHROMIUM = str(launcher.CHROMIUM)
CHROMIUM_ARGS = launcher.CHROMIUM_ARGS
TARGET_START_S = 5.0
TARGET_SWITCH_S = 1.0
# True once the script has finished and the page whose title starts with `title` is shown.
RENDERED_JS = """
(title) => {%s
  const h1 = Array.from(document.querySelectorAll('[data-testid="stMain"] h1, section.main h1'));
  return h1.some(h => h.innerText.trim().startsWith(title));
}
""" % SCRIPT_RUNNING_GUARD
TITLE_CHANGED_JS = """
(previous) => {
  const h = document.querySelector('[data-testid="stMain"] h1, section.main h1');
  return h !== null && h.innerText.trim() !== previous;
}
"""
# Page-switch timing inside the browser (no Playwright round trips in the figure): t0 when the click
# event fires, done when a DOM mutation leaves the new page's title shown and the script finished.
SWITCH_TIMER_JS = """
() => {
  const rendered = %s;
  const chartsDrawn = () => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'))
    .every(c => c.querySelector('.main-svg') !== null);
  window.__bench = {t0: null, done: null, charts: null, title: null};
  document.addEventListener('click', () => {
    if (window.__bench.t0 === null) window.__bench.t0 = performance.now();
  }, {capture: true});
  new MutationObserver(() => {
    const b = window.__bench;
    if (b.t0 === null) return;
    if (b.done === null && rendered(b.title)) b.done = performance.now();
    if (b.done !== null && b.charts === null && chartsDrawn()) b.charts = performance.now();
  }).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}
""" % RENDERED_JS.strip()
FIRST_TITLE_JS = """
() => {
  const h = document.querySelector('[data-testid="stMain"] h1, section.main h1');
  return h ? h.innerText.trim() : null;
}
"""


def prepare(models: str, precision: str, cache: Path) -> tuple[str, str]:
    """Model folders for the app, and its cache seeded with the `demo` SPLADE index."""
    return common.app_models(models, precision, "demo", cache)


def start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str, float]:
    started = time.perf_counter()
    server, url = launcher.launch(env, log)
    return server, url, started


def wait_healthy(server: subprocess.Popen, url: str, log: Path, timeout_s: float = 120) -> None:
    try:
        launcher.wait_healthy(server, url, log, timeout_s, poll_s=0.05)
    except launcher.ServerError as exc:
        raise SystemExit(str(exc)) from None


def wait_rendered(page, title: str, timeout_s: float) -> None:
    page.wait_for_function(RENDERED_JS, arg=title, timeout=timeout_s * 1000, polling=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", choices=["tiny", "bert-base"], default="tiny")
    parser.add_argument("--cycles", type=int, default=3, help="rounds of clicks through every page (default 3)")
    parser.add_argument("--starts", type=int, default=2, help="cold starts of the server to time (default 2)")
    parser.add_argument("--post-script-gc", action="store_true",
                        help="serve with runner.postScriptGC on (Streamlit's full gc.collect() after every run; "
                             ".streamlit/config.toml turns it off)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from splade_demo.config import DEFAULT_PRECISION

    precision = os.environ.get("SPLADE_DEMO_PRECISION", DEFAULT_PRECISION)
    print(common.machine_report())
    # tiny: the bench cache shared with the other scripts; bert-base: its own (it holds the seeded index)
    cache = common.BENCH_DIR / ("cache" if args.models == "tiny" else "app-cache-bert-base")
    splade, mlm = prepare(args.models, precision, cache)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SPLADE_DEMO_SPLADE_MODEL": splade, "SPLADE_DEMO_MLM_MODEL": mlm,
           "SPLADE_DEMO_CACHE": str(cache), "SPLADE_DEMO_CORPUS": "demo", "SPLADE_DEMO_PRECISION": precision,
           "PYTHONUNBUFFERED": "1"}
    if args.post_script_gc:
        env["STREAMLIT_RUNNER_POST_SCRIPT_GC"] = "true"
    print(f"\nmodels: {args.models} (SPLADE {splade}; fill-mask {mlm}), precision {precision}, cache {cache}"
          + (", runner.postScriptGC on" if args.post_script_gc else ""))
    log = common.BENCH_DIR / "streamlit-bench.log"
    start_times: list[float] = []
    switch_times: dict[str, list[float]] = {}
    chart_times: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for attempt in range(args.starts):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                server, url, started = start_server(env, log)
                try:
                    wait_healthy(server, url, log)
                    healthy = time.perf_counter() - started
                    page.goto(url, wait_until="commit")
                    page.wait_for_selector('[data-testid="stApp"]', timeout=120_000)
                    shell = time.perf_counter() - started
                    page.wait_for_selector('[data-testid="stMain"] h1', timeout=120_000)
                    titled = time.perf_counter() - started
                    wait_rendered(page, "Why SPLADE works", 120)
                    total = time.perf_counter() - started
                    start_times.append(total)
                    print(f"   start {attempt + 1}: health ok {healthy:.2f} s, app shell {shell:.2f} s, title {titled:.2f} s, "
                          f"script finished {total:.2f} s after launch (load {common.load_average()})")
                    if attempt == args.starts - 1:
                        switch_times = page_switches(page, args.cycles, chart_times)
                finally:
                    context.close()
                    launcher.stop(server)
        finally:
            browser.close()

    best = min(start_times)
    print(f"\n== app start (server launch -> home page rendered): best {best:.2f} s, "
          f"all {', '.join(f'{t:.2f}' for t in start_times)} s; target < {TARGET_START_S:.0f} s: "
          f"{common.verdict(best < TARGET_START_S)}")
    print(f"== page switches after warm-up ({args.cycles} rounds): time from click to the new page rendered")
    worst = 0.0
    for name, times in switch_times.items():
        worst = max(worst, statistics.median(times))
        charts = chart_times[name]
        print(f"   {name:40s} median {statistics.median(times):5.2f} s  max {max(times):5.2f} s   "
              f"(every chart drawn: median {statistics.median(charts):5.2f} s)")
    every = [t for ts in switch_times.values() for t in ts]
    print(f"   all switches: median {statistics.median(every):.2f} s, p95 {common.percentile(every, 95):.2f} s, "
          f"max {max(every):.2f} s; slowest page median {worst:.2f} s; target < {TARGET_SWITCH_S:.0f} s: "
          f"{common.verdict(worst < TARGET_SWITCH_S)}")
    print(f"load average at the end: {common.load_average()}")


def page_switches(page, cycles: int, chart_times: dict[str, list[float]]) -> dict[str, list[float]]:
    """Visit every page once (warm-up), then time `cycles` rounds of clicks through the sidebar links."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    names = [" ".join(links.nth(i).inner_text().split()) for i in range(links.count())]
    position = {name: i for i, name in enumerate(names)}
    titles: dict[str, str] = {}
    previous = page.evaluate(FIRST_TITLE_JS)
    warm_start = time.perf_counter()
    for name in [*names[1:], names[0]]:
        links.nth(position[name]).click()
        page.wait_for_function(TITLE_CHANGED_JS, arg=previous, timeout=600_000)
        wait_rendered(page, page.evaluate(FIRST_TITLE_JS), 600)
        titles[name] = previous = page.evaluate(FIRST_TITLE_JS)
        print(f"   warm-up: {name!r} (title {titles[name]!r}) ready {time.perf_counter() - warm_start:.1f} s after the first click")
    times: dict[str, list[float]] = {name: [] for name in names}
    page.evaluate(SWITCH_TIMER_JS)
    for _ in range(cycles):
        for name in [*names[1:], names[0]]:
            page.evaluate("(title) => { window.__bench = {t0: null, done: null, charts: null, title: title}; }", titles[name])
            links.nth(position[name]).click()
            page.wait_for_function("() => window.__bench.charts !== null", timeout=60_000, polling=50)
            done, charts = page.evaluate("() => [(window.__bench.done - window.__bench.t0) / 1000, "
                                         "(window.__bench.charts - window.__bench.t0) / 1000]")
            times[name].append(done)
            chart_times.setdefault(name, []).append(charts)
    return times


if __name__ == "__main__":
    main()
