"""`export-talk` at BERT-base size over `demo`: the file's size and the export's time (targets: <= 6 MB, <= 30 s
with the index built, 2 cores).

    python benchmarks/bench_export_talk.py            # a few minutes the first time (the tiny demo index), then ~1

The SPLADE and fill-mask models are random-init BERT-base (the real models' exact cost: `_common.py`); the document
vectors are the real tiny SPLADE's `demo` index saved under the stand-in's key (`_common.app_models`), so rankings
and page 5's evaluation cost what they cost with trained vectors. Timed in one run:

  * cold: `sources_for(settings)` + `export_talk` from nothing loaded (the CLI: both models, GloVe, BM25, the index)
  * warm: the same export with every component already loaded (the app's download button)
  * reference: page 5's evaluation alone (every method over the labelled queries: one SPLADE encoding per query),
    the export's largest part, measured in the same run; the warm export is reported as a ratio of it
and the file's size against Plotly's JS alone, which the file inlines once.
"""

from __future__ import annotations

import argparse
import time

import _common as common

from splade_demo.config import DEFAULT_PRECISION, Settings
from splade_demo.retrieval.evaluation import EVAL_DEPTH, evaluate
from splade_demo.retrieval.pipeline import METHODS
from splade_demo.talk.export import export_talk, sources_for
from splade_demo.talk.panels import TalkData, TalkSources, panel
from splade_demo.talk.steps import talk_steps

QUERY = "python memory management"
SIZE_TARGET_MB, TIME_TARGET_S = 6.0, 30.0


def loaded(settings: Settings) -> TalkSources:
    """The CLI's sources with every component loaded now (what the app holds once its pages have run)."""
    sources = sources_for(settings)
    pipeline = sources.pipeline
    pipeline.splade_ready(wait=True)
    pipeline.sources.encoder(), pipeline.sources.vectors(), pipeline.engine.bm25, sources.mlm(), sources.queries()
    return sources


def step_times(query: str, sources: TalkSources) -> list[tuple[str, float]]:
    """Each step's panel, timed on its own (in talk order, so shared results count where first computed)."""
    data = TalkData(query, sources)
    times = []
    for step in talk_steps():
        start = time.perf_counter()
        panel(data, step.panel)
        times.append((f"{step.number:>2} {step.panel}", time.perf_counter() - start))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default=DEFAULT_PRECISION, choices=("fp32", "bf16", "int8"))
    parser.add_argument("--models", default="bert-base", choices=("bert-base", "tiny"))
    args = parser.parse_args()
    print(common.machine_report())
    cache = common.BENCH_DIR / f"talk-cache-{args.models}"
    splade, mlm = common.app_models(args.models, args.precision, "demo", cache, tiny_cache=common.BENCH_DIR / "cache")
    settings = Settings(splade_model=splade, mlm_model=mlm, corpus="demo", cache_dir=cache, precision=args.precision)
    print(f"models: {args.models} stand-ins, precision {args.precision}, corpus demo, query {QUERY!r}")

    start = time.perf_counter()
    cold = export_talk(QUERY, sources_for(settings))
    cold_s = time.perf_counter() - start
    assert not cold.left_out, cold.summary("talk.html")

    ready = loaded(settings)
    start = time.perf_counter()
    warm = export_talk(QUERY, ready)
    warm_s = time.perf_counter() - start
    steps = step_times(QUERY, ready)

    start = time.perf_counter()
    evaluate(ready.queries(), ready.pipeline.ranker(list(METHODS), EVAL_DEPTH))
    reference_s = time.perf_counter() - start

    import plotly.offline

    size = len(warm.html.encode("utf-8"))
    plotly_js = len(plotly.offline.get_plotlyjs().encode("utf-8"))
    print(f"file: {size / 1e6:.2f} MB (target <= {SIZE_TARGET_MB:g} MB): {size / plotly_js:.2f}x Plotly's JS alone "
          f"({plotly_js / 1e6:.2f} MB); the talk's own part {(size - plotly_js) / 1e3:.0f} kB for "
          f"{warm.steps} steps")
    print(f"export, cold (CLI, every component loaded on the way): {cold_s:.1f} s (target <= {TIME_TARGET_S:g} s)")
    print(f"export, warm (components loaded, as in the app): {warm_s:.1f} s")
    print(f"reference, page 5's evaluation alone ({len(ready.queries())} labelled queries, {len(METHODS)} methods): "
          f"{reference_s:.1f} s; warm export / evaluation = {warm_s / reference_s:.2f}x, "
          f"cold export / evaluation = {cold_s / reference_s:.2f}x")
    print("per step, warm (s): " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in steps))
    print(f"verdict: size {'OK' if size / 1e6 <= SIZE_TARGET_MB else 'OVER'}, "
          f"time {'OK' if cold_s <= TIME_TARGET_S else 'OVER'} (cold, the stricter of the two)")


if __name__ == "__main__":
    main()
