"""Where and at which precision SPLADE runs on this machine, decided by torch's own capability checks.

One seam for the whole project (the CLI's `index`, the app's background build, the benchmarks): `accelerators()`
asks torch which devices it has, `default_precision()` asks torch what the CPU can do. Nothing here reads
/proc/cpuinfo, so the rules hold on Linux, macOS and Windows alike. torch is imported lazily: a BM25-only command
never pays for it.

The CPU precision rule (queries always, documents when they are encoded on the CPU), with its source:
- x86 with AMX (`amx_bf16`, Intel Xeon 4th generation and later): bf16. Measured on a 2-core Sapphire Rapids:
  BERT-base documents 3.7x faster than fp32 and 2x faster than int8; top-10 pages agree with fp32's on 0.99 of the
  labelled queries (benchmarks/bench_encode.py, README "Performance").
- x86 with native AVX-512 bf16 but no AMX (AMD Zen 4/5, Intel Cooper Lake): `AVX512_BF16_RULE` below (int8), set
  by what measured faster on an AMD EPYC Zen 5 (2 cores): see its comment.
- other x86 with AVX2 or VNNI: int8 (dynamic quantisation, fbgemm/x86 kernels): 1.7-1.8x fp32's document rate, a
  query in 20 ms instead of 102 ms, top-10 agreement 0.95-0.96 (measured on a 2-core Zen 3).
- macOS on Apple Silicon: fp32. torch's macOS wheel has no fbgemm and no oneDNN: int8 runs on QNNPACK's plain NEON
  kernels, while fp32 matrix products go to Apple's Accelerate (AMX coprocessor). Not measured here (no Mac); the
  choice follows torch's documented macOS build (DESIGN, environment facts). Document batches go to MPS when present.
- anything else (Linux/Windows on ARM, x86 without AVX2): fp32, exact, and no slow emulated path.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, get_args

from splade_demo.frozen_imports import import_frozen

Device = Literal["cpu", "cuda", "mps"]
DEVICES: tuple[str, ...] = get_args(Device)
DEVICE_CHOICES: tuple[str, ...] = ("auto", *DEVICES)

# On x86 with AVX512_BF16 and no AMX, measured on an AMD EPYC (Zen 5, 2 cores, AVX512-VNNI/BF16), BERT-base on 16 demo
# passages, benchmarks/bench_demo_size.py (interleaved rounds, one run, load average 4 on the shared machine):
# int8 at 2048 padded tokens 623 word pieces/s, bf16 at 2048 tokens 431, int8 at 512 tokens (the path before) 465.
# A later run gave them equal (int8 398, bf16 396, bf16 at 4096 tokens 404, bf16 through torch.compile 363). int8 is
# never slower there, and its top-10 pages still agree with fp32's on 0.96 of the labelled queries (bf16: 0.99).
# On an AMD EPYC Zen 4 (2 cores, idle, 2026-12-03), the same benchmark: int8 1,433 word pieces/s, bf16 1,168.
AVX512_BF16_RULE: str = "int8"


@dataclass(frozen=True)
class PrecisionChoice:
    """The default CPU precision and the reason for it (shown by benchmarks and `index`)."""

    precision: str  # "fp32" | "bf16" | "int8"
    reason: str


def cpu_capabilities() -> dict[str, object]:
    """torch's own reading of this CPU (`torch.cpu.get_capabilities()`, cpuinfo under the hood), or {}."""
    import_frozen("torch")  # usually the process's first torch import: see frozen_imports
    import torch  # lazy: heavy, and only precision/device decisions need it

    getter = getattr(torch.cpu, "get_capabilities", None)
    try:
        return dict(getter()) if getter is not None else {}
    except (RuntimeError, AttributeError):
        return {}


def is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine().lower() in {"arm64", "aarch64"}


@lru_cache(maxsize=1)
def precision_choice() -> PrecisionChoice:
    """The fastest CPU precision that keeps the rankings here (see the module docstring for each rule's source)."""
    if is_apple_silicon():
        return PrecisionChoice("fp32", "Apple Silicon: fp32 matrix products run on Accelerate; int8 would use "
                                       "QNNPACK's plain NEON kernels")
    caps = cpu_capabilities()
    if caps.get("amx_bf16"):
        return PrecisionChoice("bf16", "the CPU has AMX (bf16 matrix tiles)")
    if caps.get("avx512_bf16"):
        return PrecisionChoice(AVX512_BF16_RULE, "the CPU has AVX-512 bf16 and VNNI without AMX: int8 measured "
                                                 "no slower than bf16 there (Zen 4, Zen 5)")
    if caps.get("avx512_vnni") or caps.get("avx_vnni") or caps.get("avx2"):
        return PrecisionChoice("int8", "x86 with AVX2/VNNI: int8 kernels (fbgemm)")
    return PrecisionChoice("fp32", "no fast int8 or bf16 kernels known for this CPU: fp32 (exact)")


def default_precision() -> str:
    """`precision_choice().precision`."""
    return precision_choice().precision


# -- devices --------------------------------------------------------------------------------------
def accelerators() -> list[Device]:
    """The accelerators torch can use here, in order of preference: cuda, then mps.

    The one place that asks torch (`torch.cuda.is_available`, `torch.backends.mps.is_available`): tests patch
    those two checks to show the choice."""
    import torch  # lazy: heavy

    found: list[Device] = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


@dataclass(frozen=True)
class DeviceChoice:
    device: Device
    reason: str


def resolve_device(requested: str | None = None) -> DeviceChoice:
    """`auto` (default: SPLADE_DEMO_DEVICE, else auto) -> cuda, then mps, then cpu; an explicit device is checked.

    Raises ValueError for an unknown name or an accelerator torch does not see."""
    name = (requested or os.environ.get("SPLADE_DEMO_DEVICE", "") or "auto").strip().lower()
    if name not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    found = accelerators()
    if name == "auto":
        if found:
            return DeviceChoice(found[0], f"auto: torch sees {', '.join(found)}; documents are encoded on {found[0]}")
        return DeviceChoice("cpu", "auto: torch sees no CUDA or MPS device; documents are encoded on the CPU")
    if name != "cpu" and name not in found:
        import torch  # lazy: heavy

        what = "CUDA GPU" if name == "cuda" else "MPS device (Apple Silicon GPU)"
        raise ValueError(f"--device {name}: this torch ({torch.__version__}) sees no {what}; "
                         "use --device cpu or --device auto")
    return DeviceChoice(name, f"{name}, as asked")  # type: ignore[arg-type]
