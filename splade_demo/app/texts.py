"""Sentences the app shows that name its own controls (the sidebar), kept out of the logic layers."""

from __future__ import annotations

from splade_demo.config import Precision

PRECISION_CAPTIONS: dict[Precision, str] = {
    "fp32": "fp32: the exact weights",
    "int8": "int8: a quantised copy of the model, several times faster; its weights are close to the exact "
            "fp32 ones, not equal (choose fp32 in the sidebar for those)",
    "bf16": "bf16: a copy of the model in bfloat16, several times faster where the CPU has AMX; its weights are "
            "close to the exact fp32 ones, not equal (choose fp32 in the sidebar for those)",
}
