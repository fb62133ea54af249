"""What the server-wide admission (splade_demo/models/admission.py) changes, measured in one process without browsers.

    python benchmarks/bench_admission.py              # BERT-base size (random init): the real models' cost
    python benchmarks/bench_admission.py --probes 3   # fewer timed requests per scenario

One "request" is what pages 3-5 ask of the models for one query: a fill-mask with 5 words masked in turn (fp32
BERT-base) and a SPLADE query encoding (int8 BERT-base). A probe session times its requests while the server is
  - idle (one session alone),
  - busy with `--sessions` other sessions sending the same requests in a loop (threads, as Streamlit serves them),
  - busy building an index (document batches of 16 demo passages, as page 4's background build),
each with the admission on (`--slots`, default the server's: 1 slot; torch threads = cores / slots) and off (no admission, torch's
default of one thread per core for every call: the behaviour before). Browsers are left out: in the load test
(bench_load.py) they take most of the CPU and hide the server's share.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import _common as common

from splade_demo.models import admission as admission_module
from splade_demo.models.admission import Admission, available_cores, slots_from_env

QUERY = "how does python free the memory of unused objects"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=4, help="other sessions sending requests (default 4)")
    parser.add_argument("--probes", type=int, default=5, help="timed requests per scenario (default 5)")
    parser.add_argument("--slots", type=int, default=0, help="admission slots when on (default: the server's, 1)")
    args = parser.parse_args()
    import torch

    from splade_demo.data.corpus import load_corpus
    from splade_demo.explain.fill_mask import predict
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder
    from splade_demo.retrieval.splade_index import document_text

    print(common.machine_report())
    mlm = load_mlm(str(common.random_bert_base_dir("mlm")))
    encoder = SpladeEncoder(load_mlm(str(common.random_bert_base_dir("splade"))), "int8")
    documents = [document_text(p) for p in load_corpus("demo").passages[:64]]
    cores = available_cores()
    slots = min(args.slots, cores) if args.slots else slots_from_env(cores)
    on_threads = max(1, cores // slots)
    default_threads = torch.get_num_threads()

    def request() -> None:
        predict(mlm, QUERY, k=10, max_words=5)
        encoder.encode_query(QUERY)

    def scenario(load: str, on: bool) -> list[float]:
        admission_module._ADMISSION = Admission(slots if on else 0)
        torch.set_num_threads(on_threads if on else default_threads)
        stop = threading.Event()

        def session_loop() -> None:
            while not stop.is_set():
                request()

        def index_loop() -> None:
            while not stop.is_set():
                encoder.encode_documents(documents, batch_size=16)

        workers = [threading.Thread(target=session_loop) for _ in range(args.sessions if load == "sessions" else 0)]
        workers += [threading.Thread(target=index_loop)] if load == "index" else []
        for worker in workers:
            worker.start()
        try:
            request()  # one untimed: the load is running by now
            times = []
            for _ in range(args.probes):
                started = time.perf_counter()
                request()
                times.append(time.perf_counter() - started)
            return times
        finally:
            stop.set()
            for worker in workers:
                worker.join()

    print(f"\nprobe request: fill-mask (5 words, fp32) + query encoding (int8), BERT-base; {args.probes} timed each; "
          f"cores {cores}; off: no admission, torch threads {default_threads}; on: {slots} slots, torch threads {on_threads}")
    for threads in (default_threads, on_threads, default_threads):  # warm-up at both thread counts (first calls are slow)
        torch.set_num_threads(threads)
        for _ in range(3):
            request()
    results: dict[tuple[str, bool], list[float]] = {}
    for load in ("idle", "sessions", "index"):
        for on in (False, True):
            times = results[(load, on)] = scenario(load, on)
            label = {"idle": "alone", "sessions": f"{args.sessions} other sessions", "index": "an index build"}[load]
            print(f"   {label:18s} admission {'on ' if on else 'off'}: median {statistics.median(times) * 1000:7.0f} ms, "
                  f"max {max(times) * 1000:7.0f} ms  (load {common.load_average()})")
    for load in ("idle", "sessions", "index"):
        off, on = statistics.median(results[(load, False)]), statistics.median(results[(load, True)])
        print(f"== {load:8s}: admission on / off = {on / off:.2f}")
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
