"""Many visitors at once: one real `streamlit run`, 8 and 16 concurrent headless Chromium sessions.

    python benchmarks/bench_load.py                          # tiny SPLADE as both models, demo corpus, 8 and 16
    python benchmarks/bench_load.py --slots 0 --sessions 8   # the same without the model-call admission
    python benchmarks/bench_load.py --models bert-base --sessions 8 --no-baseline   # memory at BERT-base size

Each session walks the five pages with its own labelled query (corpus/queries.jsonl; tests/e2e/load.py). First
one warm-up walk (models loaded, page 5's evaluation computed), then every query walked alone, one session after
another (the single-session run: page times without load, and the results each concurrent session must equal),
then the concurrent runs. Reported: errors (must be 0), p50/p95 page-complete time in the browser, the server's
own time per script run (tests/e2e/timed_streamlit.py; the browsers share the server's cores and take most of
the CPU), the server's peak RSS (VmHWM), and whether every session's pages equal the single-session run.

The SPLADE index is built (tiny) or seeded (bert-base: the tiny vectors under the BERT-base key, as in
bench_app.py) before the server starts, so no page waits for an index build. `--passages N` cuts the corpus to
its first N passages. The server's settings come from the environment as usual (SPLADE_DEMO_PRECISION, ...);
`--slots` sets SPLADE_DEMO_MODEL_SLOTS (default: the server's own, 1; 0: no admission).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import _common as common

from tests.e2e import load
from tests.e2e import server as launcher

BUDGET_BYTES = int(2.7 * 2**30)  # Streamlit Community Cloud's memory ceiling


def corpus_spec(passages: int | None) -> str:
    """`demo`, or a file of its first `passages` passages in the bench folder."""
    if not passages:
        return "demo"
    from splade_demo.data.corpus import PASSAGE_FIELDS, load_corpus

    path = common.BENCH_DIR / f"demo-first-{passages}.jsonl"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        records = [{f: getattr(p, f) for f in PASSAGE_FIELDS} for p in load_corpus("demo").passages[:passages]]
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def server_times(log: Path, since: int) -> tuple[list[float], int]:
    runs = load.script_run_times(log)
    return [wall for wall, _ in runs[since:]], len(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", choices=["tiny", "bert-base"], default="tiny")
    parser.add_argument("--sessions", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--passages", type=int, default=0, help="cut the demo corpus to its first N passages")
    parser.add_argument("--slots", default="", help="SPLADE_DEMO_MODEL_SLOTS for the server (default: its own, 1)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the single-session run (no equality check)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a page may take (default 600)")
    args = parser.parse_args()
    from splade_demo.config import DEFAULT_PRECISION

    precision = os.environ.get("SPLADE_DEMO_PRECISION", DEFAULT_PRECISION)
    print(common.machine_report())
    corpus = corpus_spec(args.passages)
    cache = common.BENCH_DIR / ("load-cache" if args.models == "tiny" else "load-cache-bert-base")
    # the tiny index is built once in its own cache folder; bert-base's gets a copy under its key
    splade, mlm = common.app_models(args.models, precision, corpus, cache, tiny_cache=common.BENCH_DIR / "load-cache")
    tag = f"{args.models}-slots{args.slots or 'default'}{f'-p{args.passages}' if args.passages else ''}"
    run_log = common.BENCH_DIR / f"load-runs-{tag}.log"
    run_log.unlink(missing_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SPLADE_DEMO_SPLADE_MODEL": splade, "SPLADE_DEMO_MLM_MODEL": mlm,
           "SPLADE_DEMO_CACHE": str(cache), "SPLADE_DEMO_CORPUS": corpus, "SPLADE_DEMO_PRECISION": precision,
           "SPLADE_LOAD_RUN_LOG": str(run_log), "PYTHONUNBUFFERED": "1"}
    if args.slots:
        env["SPLADE_DEMO_MODEL_SLOTS"] = args.slots
    queries = load.labelled_queries(max(args.sessions), common.REPO_ROOT / "corpus" / "queries.jsonl")
    print(f"\nmodels {args.models}, precision {precision}, corpus {corpus}, slots {args.slots or 'default'}, "
          f"sessions {args.sessions}")
    log = common.BENCH_DIR / f"streamlit-load-{tag}.log"
    server, url = launcher.launch(env, log, module="tests.e2e.timed_streamlit")
    report: dict[str, object] = {"models": args.models, "precision": precision, "corpus": corpus,
                                 "slots": args.slots or "default", "machine": common.machine_report()}
    try:
        launcher.wait_healthy(server, url, log, 120)
        started = time.perf_counter()
        warm = load.run_sessions(url, queries[:1], concurrent=False, timeout_s=args.timeout)
        print(f"warm-up walk {time.perf_counter() - started:.1f} s; errors {load.errors_of(warm) or 0}")
        seen = len(load.script_run_times(run_log))
        baseline: list[load.SessionRun] = []
        if not args.no_baseline:
            baseline = load.run_sessions(url, queries, concurrent=False, timeout_s=args.timeout)
            alone, seen = server_times(run_log, seen)
            report["single"] = {"errors": load.errors_of(baseline), "page_s": load.page_times(baseline),
                                "server_run_s": alone}
            print(f"single session, {len(queries)} queries one after another: errors {len(load.errors_of(baseline))}; "
                  f"page {load.summary(load.page_times(baseline))}; server per script run {load.summary(alone)}")
            for page in load.WALK:
                times = [v.seconds for r in baseline for v in r.visits if v.page == page]
                print(f"   {page:8s} {load.summary(times)}")
        for n in args.sessions:
            started = time.perf_counter()
            runs = load.run_sessions(url, queries[:n], concurrent=True, timeout_s=args.timeout)
            wall = time.perf_counter() - started
            busy, seen = server_times(run_log, seen)
            errors = load.errors_of(runs)
            differ = load.mismatches(runs, baseline) if baseline else None
            rss = load.peak_rss_bytes(server.pid)
            report[f"sessions_{n}"] = {"errors": errors, "page_s": load.page_times(runs), "server_run_s": busy,
                                       "peak_rss_bytes": rss, "mismatches": differ, "wall_s": wall}
            print(f"\n== {n} concurrent sessions ({wall:.0f} s in all): errors {len(errors)}"
                  + "".join(f"\n   {e}" for e in errors[:5]))
            print(f"   page-complete in the browser: {load.summary(load.page_times(runs))}")
            print(f"   server time per script run:   {load.summary(busy)}")
            print(f"   server peak RSS {rss / 2**30:.2f} GB (budget 2.7 GB: {common.verdict(rss < BUDGET_BYTES)})")
            if differ is not None:
                print(f"   results equal to the single-session run: "
                      f"{'yes, every page' if not differ else f'NO, {len(differ)} pages differ: {differ[:5]}'}")
            for page in load.WALK:
                times = [v.seconds for r in runs for v in r.visits if v.page == page and not v.errors]
                print(f"   {page:8s} {load.summary(times)}")
    finally:
        launcher.stop(server)
    out = common.BENCH_DIR / f"load-{tag}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\nfigures in {out}; server log {log}")


if __name__ == "__main__":
    main()
